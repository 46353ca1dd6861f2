"""Value objects and the checks every decider shares."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

from cora_bluesky.domain.errors import CoraError, InvalidTimestampError
from cora_bluesky.domain.readable import MAX_JSON_DEPTH, text_problem, unreadable  # noqa: F401 - shared from here
from cora_bluesky.domain.rules import EXTERNAL_REF_ID, EXTERNAL_REF_SCHEME, ENTRY_ID, TextRule, reason_rule

#: How far a producer's clock may run ahead of the record's before a time is "in the future".
CLOCK_SKEW = timedelta(minutes=5)

#: Largest serialised JSON document the record accepts in a parameter set or payload.
MAX_JSON_BYTES = 64 * 1024


def text(
    value: Any,
    error: type[CoraError],
    *,
    what: str,
    high: int,
    low: int = 1,
) -> str:
    """Return ``value`` trimmed, or raise ``error`` if it is not text of ``low``-``high`` chars."""
    return TextRule(what, error, high, low).check(value)


def optional_text(value: Any, error: type[CoraError], *, what: str, high: int) -> str | None:
    """Like :func:`text`, but ``None`` passes through."""
    return TextRule(what, error, high).check_optional(value)


def reason(value: Any, error: type[CoraError]) -> str:
    """A required free-form reason (see :func:`~cora_bluesky.domain.rules.reason_rule`)."""
    return reason_rule(error).check(value)


def distinct_texts(
    values: Iterable[Any], error: type[CoraError], *, what: str, high: int
) -> tuple[str, ...]:
    """Trim every entry and refuse duplicates; order is kept."""
    return TextRule(what, error, high).check_each(values)


def instant(value: Any, error: type[CoraError] = InvalidTimestampError, *, what: str) -> datetime:
    """Refuse anything but a time-zone-aware :class:`datetime`."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise error(f"{what} must be a datetime with a time zone", field=what)
    try:
        value.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+05:00 is before the first representable UTC instant
        raise error(f"{what} {value.isoformat()} is outside the representable range of times", field=what) from None
    return value


def finite_number(value: Any, error: type[CoraError], *, what: str) -> float:
    """Return ``value`` as a float, refusing booleans, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{what} must be a number, got {type(value).__name__}", field=what)
    number = float(value)
    if not math.isfinite(number):
        raise error(f"{what} must be finite, got {value!r}", field=what)
    return number


def json_problem(value: Any, *, depth: int = 0) -> str | None:
    """Describe the first reason ``value`` is not plain, finite JSON, or return ``None``."""
    if depth > MAX_JSON_DEPTH:
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"non-finite number {value!r}"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"key {key!r} is not text"
            if text_problem(key):
                return f"a key {text_problem(key)}"
            problem = json_problem(item, depth=depth + 1)
            if problem:
                return f"{key}: {problem}"
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problem = json_problem(item, depth=depth + 1)
            if problem:
                return f"[{index}]: {problem}"
        return None
    return f"unsupported value of type {type(value).__name__}"


def json_object(value: Any, error: type[CoraError], *, what: str) -> dict[str, Any]:
    """Return a deep copy of ``value`` if it is a bounded, finite JSON object."""
    if not isinstance(value, Mapping):
        raise error(f"{what} must be a JSON object", field=what)
    problem = json_problem(value)
    if problem:
        raise error(f"{what} is not valid JSON: {problem}", field=what, problem=problem)
    encoded = json.dumps(value, allow_nan=False)
    if len(encoded.encode()) > MAX_JSON_BYTES:
        raise error(f"{what} is larger than {MAX_JSON_BYTES} bytes", field=what)
    return json.loads(encoded)


@dataclass(frozen=True)
class ExternalRef:
    """An anti-corruption reference to an upstream concept (proposal, ESAF, session)."""

    scheme: str
    id: str

    @classmethod
    def parse(cls, value: Any, error: type[CoraError]) -> "ExternalRef":
        """Build from an ``ExternalRef``, a ``(scheme, id)`` pair or a mapping."""
        if isinstance(value, ExternalRef):
            scheme, ident = value.scheme, value.id
        elif isinstance(value, Mapping):
            scheme, ident = value.get("scheme"), value.get("id")
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            scheme, ident = value
        else:
            raise error("an external reference is a (scheme, id) pair", field="external_refs")
        # the bounds are the run's; the error is the caller's
        scheme_rule = TextRule(EXTERNAL_REF_SCHEME.field, error, EXTERNAL_REF_SCHEME.high)
        id_rule = TextRule(EXTERNAL_REF_ID.field, error, EXTERNAL_REF_ID.high)
        return cls(scheme_rule.check(scheme), id_rule.check(ident))


#: Checks effective parameters against a Method's schema; returns the violations found.
ParameterCheck = Callable[[Mapping[str, Any]], tuple[str, ...]]


@dataclass(frozen=True)
class At:
    """The context of a command that needs nothing but the record's clock."""

    now: datetime


def interruption(
    value: Any, *, started_at: datetime, now: datetime, error: type[CoraError]
) -> datetime | None:
    """Validate an operator's guess at when work really died: zoned, after start, not ahead."""
    if value is None:
        return None
    instant(value, error, what="interrupted_at")
    if value > now:
        raise error(
            f"interrupted_at {value.isoformat()} is in the future (now {now.isoformat()})",
            interrupted_at=value.isoformat(),
        )
    if value < started_at:
        raise error(
            f"interrupted_at {value.isoformat()} is before the start at {started_at.isoformat()}",
            interrupted_at=value.isoformat(),
            started_at=started_at.isoformat(),
        )
    return value


def sampled_at(value: Any, *, now: datetime, error: type[CoraError]) -> datetime:
    """A field timestamp: zoned and not further ahead of the record's clock than the skew."""
    instant(value, error, what="sampled_at")
    if value > now + CLOCK_SKEW:
        raise error(
            f"sampled_at {value.isoformat()} is in the future (now {now.isoformat()})",
            sampled_at=value.isoformat(),
        )
    return value


def entry_id(value: Any, error: type[CoraError]) -> str:
    """A producer-supplied idempotency key for a logbook entry."""
    return TextRule(ENTRY_ID.field, error, ENTRY_ID.high).check(value)
