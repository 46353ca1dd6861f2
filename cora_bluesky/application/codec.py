"""JSON encoding of domain states and events, driven by their type hints.

Timestamps are written as fixed-width UTC ISO 8601 text, so that comparing the text compares
the instants; stores rely on this for ordering and keyset pagination. Durations are seconds.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Callable, Mapping


def timestamp(value: datetime) -> str:
    """Fixed-width UTC text for an aware datetime."""
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


_PLAIN = frozenset({str, float, int, bool, type(None)})


def encode(value: Any) -> Any:
    """Turn a domain value into plain JSON data."""
    if type(value) in _PLAIN:  # the common case first: a reading batch encodes millions of these
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, list, frozenset, set)):
        return [encode(item) for item in value]
    if isinstance(value, Mapping):
        return {key: encode(item) for key, item in value.items()}
    return value


def decode(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a dataclass of type ``cls`` from :func:`encode`'s output."""
    return cls(**{name: data[name] if convert is None else convert(data[name])
                  for name, convert in _plan(cls) if name in data})


Converter = Callable[[Any], Any]


@functools.cache
def _plan(cls: type) -> tuple[tuple[str, Converter | None], ...]:
    """Each field of ``cls`` with the converter its type hint needs (``None``: kept as is).

    Worked out once per class: reading the gate's context decodes dozens of states per start.
    """
    hints = typing.get_type_hints(cls)
    return tuple((field.name, _converter(hints[field.name])) for field in dataclasses.fields(cls))


def _converter(hint: Any) -> Converter | None:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = _converter([arg for arg in typing.get_args(hint) if arg is not type(None)][0])
        return None if inner is None else _nullable(inner)
    if origin in (tuple, frozenset):
        item = _converter(typing.get_args(hint)[0])
        if item is None:
            return _nullable(origin)
        return _nullable(lambda values: origin(item(value) for value in values))
    if hint is datetime:
        return _nullable(parse_timestamp)
    if hint is timedelta:
        return _nullable(lambda seconds: timedelta(seconds=seconds))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _nullable(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _nullable(lambda value: decode(hint, value))
    if hint is float:
        return _nullable(float)
    return None


def _nullable(convert: Converter) -> Converter:
    return lambda value: None if value is None else convert(value)
