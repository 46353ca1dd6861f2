"""Reconciling the record with a beamline model (hutches, equipment, methods, plans).

Loading a model is a reconciliation: what the file says and the record lacks or holds
otherwise becomes named events (a registration, ``EnclosurePvsChanged``,
``AssetDevicesChanged``, ``AssetFamilyChanged``, ``AssetMoved``, ``MethodRevised``,
``PlanRevised``; a plan whose method changed is deprecated and replaced under its name).
Nothing recorded is rewritten, and what the record holds that the file does not mention is
kept and listed. :func:`diff_model` shows the changes; :func:`apply_model` records them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from cora_bluesky.application.beamline_model import check_model
from cora_bluesky.application.ports import every
from cora_bluesky.application.record import Record
from cora_bluesky.domain.equipment import AssetStatus
from cora_bluesky.domain.recipe import PlanStatus


@dataclass(frozen=True)
class Change:
    """One difference between the model and the record.

    ``verb`` is ``add`` (registered), ``change`` (fields recorded as changed), ``replace`` (a
    plan deprecated and registered again under its name) or ``extra`` (held by the record,
    absent from the model: kept, nothing recorded).
    """

    section: str
    name: str
    verb: str
    fields: tuple[tuple[str, Any, Any], ...] = ()
    note: str = ""

    def __str__(self) -> str:
        mark = {"add": "+", "change": "~", "replace": "!", "extra": "="}[self.verb]
        head = f"{mark} {self.section} {self.name!r}"
        if self.note:
            head += f" ({self.note})"
        return "\n".join([head, *(f"    {field}: {_show(old)} -> {_show(new)}" for field, old, new in self.fields)])

    @property
    def recorded(self) -> bool:
        """Whether applying this change writes to the record."""
        return self.verb != "extra"


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(map(str, value)) + "]"
    return repr(value) if isinstance(value, str) else str(value)


class _Current:
    """What the record holds, by name (Active assets and plans before retired ones)."""

    def __init__(self, record: Record) -> None:
        self.enclosures = {h.name: h for h in every(record.list_enclosures)}
        self.assets: dict[str, Any] = {}
        for asset in sorted(every(record.list_assets), key=lambda a: (a.status is AssetStatus.ACTIVE, a.created_at)):
            self.assets[asset.name] = asset  # the Active one, when there is one, wins
        self.methods = {m.name: m for m in every(record.list_methods)}
        self.plans: dict[str, Any] = {}
        for plan in sorted(every(record.list_plans), key=lambda p: (p.status is PlanStatus.ACTIVE, p.created_at)):
            self.plans[plan.name] = plan
        self.asset_names = {a.id: a.name for a in every(record.list_assets)}
        self.enclosure_names = {h.id: h.name for h in self.enclosures.values()}
        self.method_names = {m.id: m.name for m in self.methods.values()}


def diff_model(record: Record, model: Mapping[str, Any], *, source: str = "beamline model") -> list[Change]:
    """The changes applying ``model`` would record, in the order they would be recorded."""
    model = check_model(model, source=source)
    now = _Current(record)
    changes: list[Change] = []
    for item in model["enclosures"]:
        held = now.enclosures.get(item["name"])
        if held is None:
            changes.append(Change("enclosure", item["name"], "add"))
            continue
        fields = _fields(
            ("secured_pv", held.secured_pv, item["secured_pv"]),
            ("shutter_pvs", list(held.shutter_pvs), item.get("shutter_pvs", [])),
        )
        if fields:
            changes.append(Change("enclosure", item["name"], "change", fields))
    for item in model["methods"]:
        held = now.methods.get(item["name"])
        if held is None:
            changes.append(Change("method", item["name"], "add"))
            continue
        fields = _fields(
            ("parameters_schema", held.parameters_schema, item.get("parameters_schema")),
            ("needed_families", list(held.needed_families), item.get("needed_families", [])),
        )
        if fields:
            changes.append(Change("method", item["name"], "change", fields))
    for item in _parents_first(model["assets"]):
        held = now.assets.get(item["name"])
        if held is None or held.status is not AssetStatus.ACTIVE:
            changes.append(Change("asset", item["name"], "add", note="the recorded one is decommissioned" if held else ""))
            continue
        fields = _fields(
            ("family", held.family, item["family"]),
            ("device_names", list(held.device_names), item.get("device_names", [])),
            ("parent", now.asset_names.get(held.parent_id), item.get("parent")),
            ("enclosure", now.enclosure_names.get(held.enclosure_id), item.get("enclosure")),
        )
        if fields:
            changes.append(Change("asset", item["name"], "change", fields))
    for item in model["plans"]:
        held = now.plans.get(item["name"])
        if held is None:
            changes.append(Change("plan", item["name"], "add"))
            continue
        if held.status is not PlanStatus.ACTIVE:
            changes.append(Change("plan", item["name"], "add", note=f"replaces the deprecated plan {held.id}"))
            continue
        method = now.method_names.get(held.method_id)
        if method != item["method"]:
            changes.append(Change("plan", item["name"], "replace", (("method", method, item["method"]),),
                                  note=f"plan {held.id} is deprecated; a new plan takes its name"))
            continue
        fields = _fields(
            ("default_parameters", dict(held.default_parameters), item.get("default_parameters", {})),
            ("assets", sorted(now.asset_names.get(a, a) for a in held.asset_ids), sorted(item.get("assets", []))),
            ("bluesky_names", list(held.bluesky_names), item.get("bluesky_names", [])),
        )
        if fields:
            changes.append(Change("plan", item["name"], "change", fields))
    described = {section: {item["name"] for item in model[section]} for section in ("enclosures", "assets", "methods", "plans")}
    for section, held_by_name in (("enclosure", now.enclosures), ("asset", now.assets), ("method", now.methods),
                                  ("plan", now.plans)):
        for name, held in held_by_name.items():
            if name not in described[section + "s"] and getattr(held, "status", "Active") in ("Active", None):
                changes.append(Change(section, name, "extra", note="in the record, not in the model: kept"))
    return changes


def _fields(*triples: tuple[str, Any, Any]) -> tuple[tuple[str, Any, Any], ...]:
    return tuple((field, old, new) for field, old, new in triples if old != new)


def _parents_first(assets: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Assets ordered so that each comes after the asset it sits in (the model has no cycles)."""
    by_name = {item["name"]: item for item in assets}
    ordered: dict[str, Mapping[str, Any]] = {}

    def visit(item: Mapping[str, Any]) -> None:
        if item["name"] in ordered:
            return
        if item.get("parent") in by_name:
            visit(by_name[item["parent"]])
        ordered[item["name"]] = item

    for item in assets:
        visit(item)
    return list(ordered.values())


def apply_model(
    record: Record,
    model: Mapping[str, Any],
    *,
    source: str = "beamline model",
    say: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Record what ``model`` changes (see :func:`diff_model`); returns ``{section: {name: id}}``.

    Each change is told to ``say`` as it is recorded. A refusal stops the reconciliation at
    that change; what was recorded before it stays recorded, and applying again continues.
    """
    model = check_model(model, source=source)
    changes = diff_model(record, model, source=source)
    items = {(section[:-1], item["name"]): item for section in ("enclosures", "assets", "methods", "plans")
             for item in model[section]}
    for change in changes:
        if change.recorded:
            _apply(record, change, items[(change.section, change.name)])
        say(str(change))
    return model_ids(record, model)


def model_ids(record: Record, model: Mapping[str, Any]) -> dict[str, Any]:
    """``{"enclosures": {name: id}, "assets": ..., "methods": ..., "plans": ..., "outside_hutches": [...]}``."""
    now = _Current(record)
    return {
        "enclosures": {i["name"]: now.enclosures[i["name"]].id for i in model["enclosures"]},
        "assets": {i["name"]: now.assets[i["name"]].id for i in model["assets"]},
        "methods": {i["name"]: now.methods[i["name"]].id for i in model["methods"]},
        "plans": {i["name"]: now.plans[i["name"]].id for i in model["plans"]},
        "outside_hutches": list(model["outside_hutches"]),
    }


def _apply(record: Record, change: Change, item: Mapping[str, Any]) -> None:
    now = _Current(record)
    asset_id = lambda name: now.assets[name].id  # noqa: E731
    if change.section == "enclosure":
        pvs = {"secured_pv": item["secured_pv"], "shutter_pvs": item.get("shutter_pvs", [])}
        if change.verb == "add":
            record.register_enclosure(name=item["name"], **pvs)
        else:
            record.change_enclosure_pvs(now.enclosures[item["name"]].id, **pvs)
    elif change.section == "method":
        fields = {"parameters_schema": item.get("parameters_schema"), "needed_families": item.get("needed_families", [])}
        if change.verb == "add":
            record.register_method(name=item["name"], **fields)
        else:
            record.revise_method(now.methods[item["name"]].id, **fields)
    elif change.section == "asset":
        parent = asset_id(item["parent"]) if "parent" in item else None
        enclosure = now.enclosures[item["enclosure"]].id if "enclosure" in item else None
        if change.verb == "add":
            record.register_asset(name=item["name"], family=item["family"], parent_id=parent, enclosure_id=enclosure,
                                  device_names=item.get("device_names", []))
            return
        held = now.assets[item["name"]]
        changed = {field for field, _, _ in change.fields}
        if "family" in changed:
            record.change_asset_family(held.id, family=item["family"])
        if "device_names" in changed:
            record.change_asset_devices(held.id, device_names=item.get("device_names", []))
        if changed & {"parent", "enclosure"}:
            record.move_asset(held.id, parent_id=parent, enclosure_id=enclosure)
    elif change.section == "plan":
        fields = {
            "default_parameters": item.get("default_parameters", {}),
            "asset_ids": [asset_id(name) for name in item.get("assets", [])],
            "bluesky_names": item.get("bluesky_names", []),
        }
        if change.verb == "change":
            record.revise_plan(now.plans[item["name"]].id, **fields)
            return
        if change.verb == "replace":
            record.deprecate_plan(now.plans[item["name"]].id)
        record.register_plan(name=item["name"], method_id=now.methods[item["method"]].id, **fields)


def load_beamline(
    record: Record,
    model: Mapping[str, Any],
    *,
    substitutions: Mapping[str, str] = {},
    source: str = "beamline model",
    say: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Check ``model``, record what it changes and return ``{section: {name: id}}``.

    A profile calls this at every start: an unchanged model records nothing.

    Parameters
    ----------
    model : mapping
        ``enclosures`` (name, secured_pv, shutter_pvs), ``assets`` (name, family, parent or
        enclosure by name, device_names), ``methods`` (name, parameters_schema,
        needed_families) and ``plans`` (name, method and assets by name, default_parameters,
        bluesky_names), as lists of tables; ``outside_hutches``, names or patterns of devices
        that sit in no hutch, is returned as it is for ``install(..., outside_hutches=...)``.
    substitutions : mapping
        Values for ``${name}`` placeholders in PV names, such as a simulated PSS prefix.
        Everything else in a PV name is literal.
    source : str
        How mistakes name the model (its file name).
    say : callable
        Told each change as it is recorded.

    Raises
    ------
    InvalidBeamlineModelError
        Naming the file, the entry and the field of every mistake; nothing is recorded.
    """
    checked = check_model(model, source=source, substitutions=substitutions)
    return apply_model(record, checked, source=source, say=say)
