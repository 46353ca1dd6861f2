"""JSON encoding of domain states and events, driven by their type hints.

Timestamps are written as fixed-width UTC ISO 8601 text, so that comparing the text compares
the instants; stores rely on this for ordering and keyset pagination.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Mapping


def timestamp(value: datetime) -> str:
    """Fixed-width UTC text for an aware datetime."""
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def encode(value: Any) -> Any:
    """Turn a domain value into plain JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, list, frozenset, set)):
        return [encode(item) for item in value]
    if isinstance(value, Mapping):
        return {key: encode(item) for key, item in value.items()}
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def decode(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a dataclass of type ``cls`` from :func:`encode`'s output."""
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{name: _decode(hints[name], data[name]) for name in names if name in data})


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _decode(inner[0], value)
    if origin in (tuple, frozenset):
        item = typing.get_args(hint)[0]
        return origin(_decode(item, element) for element in value)
    if hint is datetime:
        return parse_timestamp(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return decode(hint, value)
    if hint is float:
        return float(value)
    return value
