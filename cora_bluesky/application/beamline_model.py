"""The beamline model file: its schema, and the checks that name the file, entry and field of a mistake.

PV names are taken literally (``XF:05IDA-PPS:1{PSh:2}Pos-Sts`` keeps its braces); only
``${name}`` is replaced, and only by a substitution the caller passes.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping

import jsonschema

from cora_bluesky.domain import errors as e

_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}
_TEXTS = {"type": "array", "items": _TEXT, "uniqueItems": True}

#: Every section and key the model accepts; anything else is refused as unknown.
SCHEMA: Mapping[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "outside_hutches": _TEXTS,
        "enclosures": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "secured_pv"],
                "properties": {"name": _TEXT, "secured_pv": _TEXT, "shutter_pvs": _TEXTS},
            },
        },
        "assets": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "family"],
                "properties": {
                    "name": _TEXT,
                    "family": _TEXT,
                    "parent": _TEXT,
                    "enclosure": _TEXT,
                    "device_names": _TEXTS,
                },
            },
        },
        "methods": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {"name": _TEXT, "needed_families": _TEXTS, "parameters_schema": {"type": "object"}},
            },
        },
        "plans": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "method"],
                "properties": {
                    "name": _TEXT,
                    "method": _TEXT,
                    "assets": _TEXTS,
                    "default_parameters": {"type": "object"},
                    "bluesky_names": _TEXTS,
                },
            },
        },
    },
}

SECTIONS = ("enclosures", "assets", "methods", "plans")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def read_model(path: str | Path, *, substitutions: Mapping[str, str] = {}) -> dict[str, Any]:
    """Read and check a beamline model file (TOML).

    Raises
    ------
    InvalidBeamlineModelError
        Naming the file, the entry and the field of every mistake found.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise e.InvalidBeamlineModelError(f"{path}: no such file", file=str(path)) from None
    except tomllib.TOMLDecodeError as bad:
        raise e.InvalidBeamlineModelError(f"{path}: not valid TOML: {bad}", file=str(path)) from None
    return check_model(data, source=str(path), substitutions=substitutions)


def check_model(
    data: Mapping[str, Any], *, source: str = "beamline model", substitutions: Mapping[str, str] = {}
) -> dict[str, Any]:
    """Check a parsed model; returns it with ``${...}`` substitutions made in PV names."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = [_problem(data, error) for error in validator.iter_errors(data)]
    if not problems:
        problems = _references(data)
    if not problems:
        data, problems = _substituted(data, substitutions)
    if problems:
        problems.sort(key=lambda p: (p["entry"], p["field"] or ""))
        lines = "\n".join(f"  {p['entry']}{'.' + p['field'] if p['field'] else ''}: {p['problem']}" for p in problems)
        first = problems[0]
        raise e.InvalidBeamlineModelError(
            f"{source}: {len(problems)} mistake(s)\n{lines}",
            file=source,
            entry=first["entry"],
            field=first["field"],
            problems=problems,
        )
    return {"outside_hutches": list(data.get("outside_hutches", [])), **{s: list(data.get(s, [])) for s in SECTIONS}}


def _entry(data: Mapping[str, Any], path: list) -> str:
    """``assets[3] "camera"`` for a path into a section's list, else the section or ``(top level)``."""
    if not path:
        return "(top level)"
    if len(path) >= 2 and isinstance(path[1], int):
        item = data.get(path[0], [])[path[1]]
        name = item.get("name") if isinstance(item, Mapping) else None
        return f"{path[0]}[{path[1]}]" + (f" {name!r}" if isinstance(name, str) else "")
    return str(path[0])


def _problem(data: Mapping[str, Any], error: jsonschema.ValidationError) -> dict[str, Any]:
    path = list(error.absolute_path)
    entry = _entry(data, path)
    inside = path[2:] if len(path) >= 2 and isinstance(path[1], int) else path[1:]
    field = ".".join(str(p) for p in inside) or None
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        hints = [difflib.get_close_matches(key, allowed, n=1) for key in unknown]
        said = ", ".join(f"{key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "") for key, hint in zip(unknown, hints))
        what = "section" if not path else "key"
        return {"entry": entry, "field": unknown[0], "problem": f"unknown {what} {said}; allowed: {', '.join(allowed)}"}
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        key = missing[0] if missing else None
        return {"entry": entry, "field": key, "problem": f"missing {key!r}"}
    if error.validator in ("minLength", "pattern"):
        return {"entry": entry, "field": field, "problem": "must not be blank"}
    if error.validator == "uniqueItems":
        return {"entry": entry, "field": field, "problem": "lists a value twice"}
    return {"entry": entry, "field": field, "problem": error.message}


def _references(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Duplicate names, and names an entry uses that the file never describes."""
    problems = []
    names: dict[str, set[str]] = {}
    for section in SECTIONS:
        seen: set[str] = set()
        for index, item in enumerate(data.get(section, [])):
            if item["name"] in seen:
                problems.append({"entry": _entry(data, [section, index]), "field": "name",
                                 "problem": f"a second {section[:-1]} named {item['name']!r}"})
            seen.add(item["name"])
        names[section] = seen

    def need(section: str, index: int, field: str, target: str, value: str) -> None:
        if value not in names[target]:
            close = difflib.get_close_matches(value, sorted(names[target]), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append({"entry": _entry(data, [section, index]), "field": field,
                             "problem": f"names {value!r}, which no entry of [[{target}]] describes{hint}"})

    for index, item in enumerate(data.get("assets", [])):
        if "parent" in item:
            need("assets", index, "parent", "assets", item["parent"])
        if "enclosure" in item:
            need("assets", index, "enclosure", "enclosures", item["enclosure"])
    for index, item in enumerate(data.get("plans", [])):
        need("plans", index, "method", "methods", item["method"])
        for asset in item.get("assets", []):
            need("plans", index, "assets", "assets", asset)
    parents = {item["name"]: item.get("parent") for item in data.get("assets", [])}
    for index, item in enumerate(data.get("assets", [])):
        seen, current = {item["name"]}, item.get("parent")
        while current is not None and current in parents:
            if current in seen:
                problems.append({"entry": _entry(data, ["assets", index]), "field": "parent",
                                 "problem": "makes a containment cycle"})
                break
            seen.add(current)
            current = parents[current]
    return problems


def _substituted(data: Mapping[str, Any], substitutions: Mapping[str, str]) -> tuple[dict, list]:
    problems: list[dict[str, Any]] = []
    enclosures = []
    for index, item in enumerate(data.get("enclosures", [])):
        def fill(value: str, field: str) -> str:
            def one(match: re.Match) -> str:
                if match.group(1) not in substitutions:
                    problems.append({"entry": _entry(data, ["enclosures", index]), "field": field,
                                     "problem": f"${{{match.group(1)}}} has no value; pass one (cora model --substitute NAME=VALUE, or substitutions={...})"})
                    return match.group(0)
                return substitutions[match.group(1)]
            return _PLACEHOLDER.sub(one, value)

        enclosures.append({**item, "secured_pv": fill(item["secured_pv"], "secured_pv"),
                           "shutter_pvs": [fill(pv, "shutter_pvs") for pv in item.get("shutter_pvs", [])]})
    return {**data, "enclosures": enclosures}, problems
