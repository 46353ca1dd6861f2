"""Text that reads back: the one check every string the record keeps passes, at any depth.

A lone UTF-16 surrogate cannot be encoded as UTF-8, which every store, JSON reader and HTTP
response needs; NUL ends strings in C and in some drivers. Text holding either is refused
wherever it arrives (names, reasons, ids, JSON values and keys), so that whatever the record
accepted, every read and listing can return it.
"""

from __future__ import annotations

from typing import Any, Mapping

#: JSON nested deeper than this is refused on its own (see ``values.json_problem``).
MAX_JSON_DEPTH = 32


def text_problem(value: str) -> str | None:
    """Why ``value`` would not read back from every store and surface, or ``None``."""
    if "\x00" in value:
        return "holds a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate, which is not valid Unicode text"
    return None


def unreadable(value: Any, *, depth: int = 0) -> str | None:
    """The first text in ``value`` (text, or JSON of any depth, keys too) that would not read
    back, described with where it is; ``None`` when every text would."""
    if isinstance(value, str):
        return text_problem(value)
    if depth > MAX_JSON_DEPTH:
        return None  # depth is refused on its own, with its own reason
    if isinstance(value, Mapping):
        for key, item in value.items():
            problem = (text_problem(key) if isinstance(key, str) else None) or unreadable(item, depth=depth + 1)
            if problem:
                return f"{key!r}: {problem}" if isinstance(key, str) and not text_problem(key) else f"a key {problem}"
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problem = unreadable(item, depth=depth + 1)
            if problem:
                return f"[{index}]: {problem}"
    return None
