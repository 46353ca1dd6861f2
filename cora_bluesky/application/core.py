"""The unit of work every use case shares: load, decide, append with the expected version."""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import getpass
import json
import os
import random
import socket
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence, TypeVar

from cora_bluesky.application.aggregates import AGGREGATES, ASSET, CODEC, Aggregate
from cora_bluesky.application.codec import EventCodec, decode, encode, parse_timestamp, timestamp
from cora_bluesky.application.ports import (
    Append,
    DataCatalog,
    EventStore,
    ListQuery,
    NewEvent,
    Page,
    PermitSource,
    StoredEvent,
)
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.values import instant, text_problem

#: How long a write keeps re-deciding after losing races with other writers. Some writer wins
#: every race, so a budget of time (not of attempts) lets a busy stream drain its queue.
CONTENTION_SECONDS = 60.0
MAX_PAGE_SIZE = 500

Decision = tuple[tuple, Sequence[Any], Sequence[Any]]
Port = TypeVar("Port")


def new_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _default_principal() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers and services
        return "unknown"


def _session_name(principal: str) -> str:
    """What names this process's session on every event it writes without a token."""
    try:
        host = socket.gethostname()
    except Exception:  # a host with no name still gets a session
        host = "unknown-host"
    return f"session:{principal}@{host}/{os.getpid()}/{new_id()[:8]}"


class RecordCore:
    """Shared machinery of :class:`~cora_bluesky.Record`; see that class for the public API."""

    def __init__(
        self,
        store: EventStore,
        *,
        permits: PermitSource | None = None,
        catalog: DataCatalog | None = None,
        clock: Callable[[], datetime] = utc_now,
        principal: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        codec: EventCodec = CODEC,
    ) -> None:
        self.store = store
        self._codec = codec
        self.permits = permits
        self.catalog = catalog
        self._clock = clock
        self.principal = principal or _default_principal()
        #: the token the principal acts through; ``None`` for a session of its own
        self.token_id: str | None = None
        self.session = _session_name(self.principal)
        self._correlation_id = correlation_id
        self._causation_id = causation_id

    def bound(self, **context: Any) -> "RecordCore":
        """A view of the same record acting for another principal or correlation.

        Parameters
        ----------
        **context
            Any of ``principal``, ``token_id`` (the token it acts through; only the edges that
            authenticated it bind one), ``correlation_id``, ``causation_id``, ``permits``,
            ``catalog`` and ``clock`` (for writing down something that happened a moment ago, at
            its moment). Binding another principal drops the token: a token acts for its own
            principal only.
        """
        clone = copy.copy(self)
        for key, value in context.items():
            if key not in {"principal", "token_id", "correlation_id", "causation_id", "permits", "catalog", "clock"}:
                raise TypeError(f"unknown record context {key!r}")
            setattr(clone, key if key in {"principal", "permits", "catalog", "token_id"} else f"_{key}", value)
        if "principal" in context and "token_id" not in context:
            clone.token_id = None
        return clone

    @property
    def acted_via(self) -> str:
        """The token or the session through which the principal acts, as events record it."""
        return f"token:{self.token_id}" if self.token_id is not None else self.session

    def close(self) -> None:
        """Close the underlying store."""
        self.store.close()

    @property
    def location(self) -> str:
        """Where this record is stored: its SQLite file or MongoDB URI.

        It names the record among others (a spool folder per record); it may hold credentials,
        so it is never shown.
        """
        return self.store.location

    def store_as(self, port: type[Port]) -> Port:
        """The record's store through one of its other ports, for the adapter that owns it.

        The record itself uses only :class:`~cora_bluesky.application.ports.EventStore`; an
        adapter whose data lives beside the record's (the HTTP server's idempotency keys) takes
        its own port here, deliberately and typed, rather than reaching into the store.

        Parameters
        ----------
        port : type
            A ``runtime_checkable`` protocol of :mod:`cora_bluesky.application.ports`.

        Raises
        ------
        TypeError
            The store does not implement ``port``.
        """
        if not isinstance(self.store, port):
            raise TypeError(f"{type(self.store).__name__} does not implement {port.__name__}")
        return self.store

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> datetime:
        return instant(self._clock(), what="clock")

    # --- reading ------------------------------------------------------------------------

    def history(self, kind: str, aggregate_id: str) -> list[StoredEvent]:
        """The events of one aggregate's stream, oldest first, with their envelopes.

        Parameters
        ----------
        kind : str
            The aggregate's kind: ``run``, ``procedure``, ``clearance``, ``asset``,
            ``enclosure``, ``subject``, ``method``, ``plan``, ``calibration`` or ``token``.
        aggregate_id : str
            Its id; an id the record does not hold has an empty history.

        Returns
        -------
        list of StoredEvent
            Each with ``event_type``, ``payload`` (in the current shape of its type: events of
            an older version are upcast, and ``type_version`` says the current one),
            ``occurred_at``, ``recorded_at``, ``actor``, ``correlation_id``, ``causation_id``,
            ``event_id`` and ``version`` (its position in the stream, from 1).

        Raises
        ------
        InvalidInputError
            ``kind`` is not an aggregate kind.
        """
        aggregate = self._aggregate(kind)
        current = self._codec.version
        return [
            dataclasses.replace(
                event,
                payload=self._codec.upcast(event.event_type, event.type_version, event.payload),
                type_version=current(event.event_type),
            )
            for event in self.store.load(aggregate.stream_id(aggregate_id))
        ]

    def find_named(self, kind: str, name: str) -> list[Any]:
        """Every aggregate of ``kind`` the record holds under ``name``, oldest first.

        Parameters
        ----------
        kind : str
            An aggregate kind, as for :meth:`history`.
        name : str
            The exact name (a run's or procedure's name, a calibration's quantity).

        Returns
        -------
        list
            Their current states.
        """
        return self._find(self._aggregate(kind), name=name)

    @staticmethod
    def _aggregate(kind: str) -> Aggregate:
        if kind not in AGGREGATES:
            raise e.InvalidInputError(f"no aggregate kind {kind!r}; one of {', '.join(AGGREGATES)}", kind=str(kind))
        return AGGREGATES[kind]

    def _fold(self, aggregate: Aggregate, aggregate_id: str) -> tuple[Any, int]:
        stored = self.store.load(aggregate.stream_id(aggregate_id))
        events = [self._codec.decode_event(s.event_type, s.type_version, s.payload) for s in stored]
        return aggregate.fold(events), len(stored)

    def _view(self, aggregate: Aggregate, aggregate_id: Any) -> Any:
        """The current state from the projection, folding the stream if none was projected."""
        if not isinstance(aggregate_id, str) or text_problem(aggregate_id):
            return None  # not an id the record could hold
        row = self.store.get(aggregate.kind, aggregate_id)
        if row is not None:
            return decode(aggregate.state_type, row.doc)
        return self._fold(aggregate, aggregate_id)[0]

    def _require(self, aggregate: Aggregate, aggregate_id: Any, error: type[e.CoraError]) -> Any:
        """The current state, or ``error`` naming the unknown id."""
        state = self._view(aggregate, aggregate_id)
        if state is None:
            raise error(f"no {aggregate.kind} {aggregate_id}", **{f"{aggregate.kind}_id": str(aggregate_id)})
        return state

    @staticmethod
    def _timed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Logbook rows with their three timestamps as datetimes."""
        for row in rows:
            for key in ("sampled_at", "occurred_at", "recorded_at"):
                row[key] = parse_timestamp(row[key])
        return rows

    def _views(self, aggregate: Aggregate, ids: Iterable[str]) -> dict[str, Any]:
        found = {}
        for aggregate_id in ids:
            state = self._view(aggregate, aggregate_id)
            if state is not None:
                found[aggregate_id] = state
        return found

    def _find(self, aggregate: Aggregate, **criteria: Any) -> list[Any]:
        return [decode(aggregate.state_type, row.doc) for row in self.store.find(aggregate.kind, **criteria)]

    def _page(self, aggregate: Aggregate, *, limit: int, cursor: str | None, **filters: Any) -> Page:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
            raise e.InvalidListQueryError(f"limit must be 1-{MAX_PAGE_SIZE}", limit=str(limit))
        for key in ("created_from", "created_before"):
            if filters.get(key) is not None:
                filters[key] = timestamp(instant(filters[key], e.InvalidListQueryError, what=key))
        for key in ("status", "plan_id", "subject_id"):
            if filters.get(key) is not None and (not isinstance(filters[key], str) or text_problem(filters[key])):
                raise e.InvalidListQueryError(f"{key} must be text the record could hold", field=key)
        rows = self.store.page(
            ListQuery(kind=aggregate.kind, limit=limit + 1, after=_decode_cursor(cursor), **filters)
        )
        items = [decode(aggregate.state_type, row.doc) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(items, _encode_cursor(rows[limit - 1]) if more else None)

    def _asset_chain(self, asset_ids: Iterable[str]) -> dict[str, Any]:
        """The assets and everything above them; a cycle in stored data cannot loop forever."""
        found: dict[str, Any] = {}
        pending = list(asset_ids)
        while pending:
            asset_id = pending.pop()
            if asset_id in found:
                continue
            asset = self._view(ASSET, asset_id)
            if asset is None:
                continue
            found[asset_id] = asset
            if asset.parent_id is not None:
                pending.append(asset.parent_id)
        return found

    # --- writing ------------------------------------------------------------------------

    def _execute(
        self,
        aggregate: Aggregate,
        aggregate_id: str,
        decide: Callable[[Any], Decision],
        command: Any,
    ) -> tuple[Any, int, int]:
        """Run ``decide`` on the current state and append its outcome atomically.

        ``command`` is the domain command being decided: its class names it on every row written.

        ``decide`` returns ``(events, reading_rows, step_rows)``. On a concurrent write the
        state is re-read and re-decided, so every guard sees what it is deciding against.
        Returns the new state and how many readings and steps were written.
        """
        if not isinstance(aggregate_id, str) or text_problem(aggregate_id):
            raise e.InvalidTextError(f"the id {aggregate_id!a:.120} is not text the record could keep", field="id")
        correlation = self._correlation_id or new_id()
        deadline = time.monotonic() + CONTENTION_SECONDS
        attempt = 0
        while attempt == 0 or time.monotonic() < deadline:
            if attempt:  # full-jitter backoff, so busy writers stop colliding in lockstep
                time.sleep(random.uniform(0, min(0.1, 0.001 * 2**attempt)))
            attempt += 1
            state, version = self._fold(aggregate, aggregate_id)
            events, readings, steps = decide(state)
            for event in events:
                state = aggregate.evolve(state, event)
            envelopes = [
                NewEvent(
                    event_id=new_id(),
                    event_type=name,
                    # who acted is the envelope's actor; through what, the payload's acted_via
                    payload={**payload, "acted_via": self.acted_via},
                    occurred_at=timestamp(event.occurred_at),
                    actor=self.principal,
                    correlation_id=correlation,
                    causation_id=self._causation_id,
                    type_version=version,
                )
                for event in events
                for name, version, payload in [self._codec.encode_event(event)]
            ]
            audit = {
                "actor_id": self.principal,
                "command_name": type(command).__name__,
                "correlation_id": correlation,
                "causation_id": self._causation_id,
            }
            try:
                result = self.store.append(
                    Append(
                        stream_id=aggregate.stream_id(aggregate_id),
                        kind=aggregate.kind,
                        expected_version=version,
                        events=envelopes,
                        projection=aggregate.project(state, version + len(events)) if events else None,
                        readings=[{**encode(row), **audit} for row in readings],
                        steps=[{**encode(row), **audit} for row in steps],
                    )
                )
            except e.ConcurrencyError:
                continue
            return state, result.readings_written, result.steps_written
        raise e.ConcurrencyError(
            f"{aggregate.kind} {aggregate_id} kept changing under this write; try again",
            stream_id=aggregate.stream_id(aggregate_id),
        )

    def _write(self, aggregate: Aggregate, aggregate_id: str, decide: Callable[[Any], tuple], command: Any) -> Any:
        """Like :meth:`_execute` for commands that only append events."""
        return self._execute(aggregate, aggregate_id, lambda state: (decide(state), (), ()), command)[0]


def _encode_cursor(row) -> str:
    raw = json.dumps([row.created_at, row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        datetime.fromisoformat(created_at)
        if not isinstance(row_id, str) or not isinstance(created_at, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, AttributeError):
        raise e.InvalidCursorError("this cursor was not issued by this record") from None
    return created_at, row_id
