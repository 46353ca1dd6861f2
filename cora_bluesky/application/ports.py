"""Ports the application needs from the outside: narrow store protocols and a permit source.

A store implements several ports; each user names only the one it needs: the record an
:class:`EventStore` (streams, projections, logbooks, form types), the copy :class:`Copying`,
the rebuild :class:`ProjectionRebuild`, the HTTP edge :class:`IdempotencyKeys`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

from cora_bluesky.domain.equipment import EnclosureState
from cora_bluesky.domain.form_types import FormType
from cora_bluesky.domain.gates import Permit


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended, with its audit envelope."""

    event_id: str
    event_type: str
    payload: Mapping[str, Any]
    occurred_at: str
    actor: str
    correlation_id: str
    causation_id: str | None = None
    #: Version of the event type's payload shape when it was written (see ``codec.EventCodec``).
    type_version: int = 1


@dataclass(frozen=True)
class StoredEvent(NewEvent):
    stream_id: str = ""
    version: int = 0
    recorded_at: str = ""
    kind: str = ""


@dataclass(frozen=True)
class ProjectionRow:
    """The query-side row of one aggregate: indexed columns and the state as a document."""

    kind: str
    id: str
    version: int
    status: str | None
    name: str | None
    plan_id: str | None
    subject_id: str | None
    created_at: str
    updated_at: str
    doc: Mapping[str, Any]
    refs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Append:
    """One atomic write: events at ``expected_version + 1 ...``, the projection, and entries.

    With no events, the entries are written only if the stream is still at
    ``expected_version``: a logbook never takes rows after its aggregate moved on unseen.
    """

    stream_id: str
    kind: str
    expected_version: int
    events: Sequence[NewEvent] = ()
    projection: ProjectionRow | None = None
    readings: Sequence[Mapping[str, Any]] = ()
    steps: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class ListQuery:
    """Additive filters and a keyset position for listing one kind, newest first."""

    kind: str
    limit: int
    status: str | None = None
    plan_id: str | None = None
    subject_id: str | None = None
    created_from: str | None = None
    created_before: str | None = None
    #: ``(ref_kind, ref_id)`` pairs each listed row references (all of them).
    refs: tuple[tuple[str, str], ...] = ()
    #: ``(created_at, id)`` of the last row of the previous page.
    after: tuple[str, str] | None = None


@dataclass(frozen=True)
class AppendResult:
    version: int
    readings_written: int = 0
    steps_written: int = 0


class EventStreams(Protocol):
    """Event streams: atomic, version-checked appends and whole-stream loads."""

    def append(self, batch: Append) -> AppendResult:
        """Write atomically; raise ``ConcurrencyError`` if the stream is not at the expected version."""

    def load(self, stream_id: str) -> list[StoredEvent]:
        """Every event of a stream, in version order."""


class Projections(Protocol):
    """The query side: one row per aggregate, current with its stream."""

    def get(self, kind: str, aggregate_id: str) -> ProjectionRow | None:
        """The row of one aggregate, or ``None`` if it has none or its row is behind the stream."""

    def find(
        self, kind: str, *, name: str | None = None, refs: Iterable[tuple[str, str]] = ()
    ) -> list[ProjectionRow]:
        """Rows of ``kind`` with this name, or referencing any of ``refs``."""

    def page(self, query: ListQuery) -> list[ProjectionRow]:
        """One page of rows of a kind, newest first (see :class:`ListQuery`)."""


class Logbooks(Protocol):
    """Entries written beside the streams: run readings and procedure steps."""

    def readings(self, run_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """A run's readings, oldest sample first."""

    def steps(self, procedure_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """A procedure's steps, oldest sample first."""

    def latest_reading_at(self, run_id: str) -> str | None:
        """``sampled_at`` of the run's newest reading, if it has any."""


class FormTypes(Protocol):
    """The clearance form types a facility accepts."""

    def form_types(self) -> list[FormType]:
        """Every form type, in the order they were declared."""


@runtime_checkable
class EventStore(EventStreams, Projections, Logbooks, FormTypes, Protocol):
    """What the record needs from a store; every store passes the same contract suite."""

    @property
    def location(self) -> str:
        """Where the record lives: a file path or a URI (which may hold credentials: never shown)."""

    def close(self) -> None:
        """Release the connection; the store is not used afterwards."""


@runtime_checkable
class Copying(Protocol):
    """Moving a whole record between stores, rows kept as they are (see ``copying.py``)."""

    def is_empty(self) -> bool:
        """Whether the store holds no event at all."""

    def dump_events(self) -> Iterator[StoredEvent]:
        """Every event of every stream, each stream in version order."""

    def dump_projections(self) -> Iterator[ProjectionRow]:
        """Every projection row, with its references."""

    def dump_entries(self, table: str) -> Iterator[dict[str, Any]]:
        """Every row of one logbook (``entries_run_readings`` or ``entries_operation_procedure_steps``)."""

    def import_batch(
        self,
        events: Sequence[StoredEvent] = (),
        projections: Sequence[ProjectionRow] = (),
        table: str | None = None,
        entries: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Write copied rows as they were (ids and timestamps kept); rows already present are skipped."""


@runtime_checkable
class ProjectionRebuild(Protocol):
    """Rebuilding projection rows from the streams (``cora rebuild-projections``)."""

    def stream_ids(self) -> Iterator[tuple[str, str]]:
        """``(kind, stream_id)`` of every stream the store holds."""

    def load(self, stream_id: str) -> list[StoredEvent]:
        """Every event of a stream, in version order."""

    def replace_projection(self, stream_id: str, row: ProjectionRow) -> bool:
        """Write ``row`` over whatever the store holds for it, if ``stream_id`` is still at ``row.version``.

        Returns whether anything changed: ``False`` when the stored row (references included)
        already equals ``row``, or when the stream moved on meanwhile (its writer projected it).
        """


@runtime_checkable
class IdempotencyKeys(Protocol):
    """Idempotency keys of the HTTP edge: a claim while the first request runs, then its response.

    The record itself never needs these; the server adapter owns them.
    """

    def claim_key(self, key: str, fingerprint: str, claimed_at: str) -> dict[str, Any] | None:
        """Claim an idempotency key: ``None`` if this call took it, else the earlier claim.

        An earlier claim is a dict with ``fingerprint``, ``claimed_at`` and ``response``
        (``None`` while the first request is still running).
        """

    def settle_key(self, key: str, response: dict[str, Any]) -> None:
        """Keep the response of the request that holds the key."""

    def release_key(self, key: str) -> None:
        """Drop a claim that has no response yet (the request was refused or is abandoned)."""


class DataCatalog(Protocol):
    """The beamline's catalog of Bluesky runs (Tiled, databroker): where a Run's data is read."""

    def link(self, start_uid: str) -> str:
        """The URI that resolves the Bluesky run ``start_uid`` in this catalog."""

    def open(self, start_uid: str, uri: str) -> Any:
        """The catalog's entry for a linked Bluesky run; raise ``RunDataUnreachableError`` if it has none."""

    def documents(self, entry: Any) -> Iterable[tuple[str, Mapping[str, Any]]]:
        """The run's documents as the catalog holds them now, ``(name, doc)`` pairs."""


class HistoricCatalog(DataCatalog, Protocol):
    """A catalog whose runs can be listed: what ``cora import`` reads history from."""

    @property
    def source(self) -> str:
        """The catalog's address, as an imported run records where it came from."""

    def runs(self, since: float | None = None, until: float | None = None) -> Iterable[tuple[str, Any]]:
        """``(start uid, entry)`` of every run that started in ``[since, until)`` (epoch seconds)."""


class PermitSource(Protocol):
    """Reads hutch permits from the Personnel Safety System; never writes to it."""

    def permits(self, enclosures: Sequence[EnclosureState]) -> Mapping[str, Permit]:
        """One :class:`Permit` per enclosure id; a hutch it cannot read must not be permitted."""


@dataclass(frozen=True)
class Page:
    """One page of a listing; pass ``next`` back as ``cursor`` for the following page."""

    items: list[Any] = field(default_factory=list)
    next: str | None = None


def every(listing: Any, **filters: Any) -> list[Any]:
    """Every item of a paged listing (a ``list_*`` method of the record), following ``next``."""
    items: list[Any] = []
    cursor = None
    while True:
        page = listing(limit=500, cursor=cursor, **filters)
        items += page.items
        if page.next is None:
            return items
        cursor = page.next
