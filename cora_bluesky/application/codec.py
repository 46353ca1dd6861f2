"""JSON encoding of domain states and events, driven by their type hints.

Timestamps are written as fixed-width UTC ISO 8601 text, so that comparing the text compares
the instants; stores rely on this for ordering and keyset pagination. Durations are seconds.
Stored events are read through an :class:`EventCodec`, which upcasts older versions of an
event type's shape before decoding.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Callable, Mapping

from cora_bluesky.domain import errors as e


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


#: Takes a stored payload (plain JSON data) of one version of its event type to the next.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class EventCodec:
    """Domain events to stored payloads and back, across versions of each type's shape.

    A stored event keeps the version its type had when it was written; reading it runs the
    payload through the upcasters from that version to the current one, then decodes it. Old
    streams are never rewritten.

    Parameters
    ----------
    types : mapping
        Event type name -> its dataclass.
    versions : mapping
        Event type name -> its current version; a type not listed is at version 1.
    upcasters : mapping
        ``(type name, version)`` -> the :data:`Upcaster` from that version to the next. Every
        type above version 1 needs the whole chain down to 1.
    """

    types: Mapping[str, type]
    versions: Mapping[str, int] = dataclasses.field(default_factory=dict)
    upcasters: Mapping[tuple[str, int], Upcaster] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, current in self.versions.items():
            if name not in self.types or isinstance(current, bool) or not isinstance(current, int) or current < 1:
                raise ValueError(f"version {current!r} of event type {name!r}: no such type, or not a version")
            missing = [v for v in range(1, current) if (name, v) not in self.upcasters]
            if missing:
                raise ValueError(f"{name} is at version {current} but has no upcaster from version {missing[0]}")
        for name, version in self.upcasters:
            if not 1 <= version < self.version(name):
                raise ValueError(f"an upcaster from {name} version {version}, which is not older than current")

    def version(self, event_type: str) -> int:
        """The version an event of this type is written at."""
        return self.versions.get(event_type, 1)

    def encode_event(self, event: Any) -> tuple[str, int, dict[str, Any]]:
        """``(type name, version, payload)`` of a domain event."""
        name = type(event).__name__
        return name, self.version(name), encode(event)

    def upcast(self, event_type: str, version: int, payload: Mapping[str, Any]) -> dict[str, Any]:
        """A stored payload in the current shape of its type.

        Raises
        ------
        UnreadableEventError
            The type is unknown, or the payload was written by a newer cora-bluesky.
        """
        current = self.version(event_type)
        if event_type not in self.types or version > current:
            raise e.UnreadableEventError(
                f"cannot read a {event_type} event of version {version} (this cora-bluesky knows"
                f" {'version ' + str(current) if event_type in self.types else 'no such type'});"
                " upgrade cora-bluesky",
                event_type=event_type,
                type_version=version,
            )
        upcast = dict(payload)
        for step in range(version, current):
            upcast = self.upcasters[(event_type, step)](upcast)
        return upcast

    def decode_event(self, event_type: str, version: int, payload: Mapping[str, Any]) -> Any:
        """The domain event a stored payload of ``version`` stands for."""
        return decode(self.types[event_type], self.upcast(event_type, version, payload))
