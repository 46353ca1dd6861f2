"""The record's aggregate kinds: how each folds its stream and what it projects for queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from cora_bluesky.application.codec import EventCodec, encode, timestamp
from cora_bluesky.application.event_versions import UPCASTERS, VERSIONS
from cora_bluesky.application.ports import ProjectionRow
from cora_bluesky.domain import access, calibration, clearance, equipment, principal, procedure, recipe, run, subject


def stream_id(kind: str, aggregate_id: str) -> str:
    """The id of the event stream of aggregate ``aggregate_id`` of ``kind``: the only place it is made."""
    return f"{kind}:{aggregate_id}"


@dataclass(frozen=True)
class Aggregate:
    """One kind of aggregate: its state type, event types, evolve and projection references."""

    kind: str
    state_type: type
    events: tuple[type, ...]
    evolve: Callable[[Any, Any], Any]
    #: ``(ref_kind, ref_id)`` pairs a query can look the aggregate up by.
    refs: Callable[[Any], Iterable[tuple[str, str]]] = lambda state: ()

    def stream_id(self, aggregate_id: str) -> str:
        """The id of this aggregate's event stream (see :func:`stream_id`)."""
        return stream_id(self.kind, aggregate_id)

    def fold(self, events: Iterable[Any]) -> Any:
        state = None
        for event in events:
            state = self.evolve(state, event)
        return state

    def project(self, state: Any, version: int) -> ProjectionRow:
        """The query row for ``state``: indexed columns plus the whole state as a document."""
        get = lambda name: getattr(state, name, None)  # noqa: E731
        status = get("status")
        return ProjectionRow(
            kind=self.kind,
            id=state.id,
            version=version,
            status=None if status is None else str(status),
            name=get("name") or get("title") or get("quantity"),
            plan_id=get("plan_id"),
            subject_id=get("subject_id"),
            created_at=timestamp(state.created_at),
            updated_at=timestamp(state.updated_at),
            doc=encode(state),
            refs=tuple(dict.fromkeys(self.refs(state))),
        )


RUN = Aggregate(
    "run",
    run.RunState,
    run.EVENTS,
    run.evolve,
    lambda s: [("asset", a) for a in s.asset_ids]
    + [("bluesky_run", d.start_uid) for d in s.datasets]
    + [("scan_id", str(d.scan_id)) for d in s.datasets if d.scan_id is not None]
    + [("external_ref", f"{ref.scheme}:{ref.id}") for ref in s.external_refs],
)
PROCEDURE = Aggregate(
    "procedure",
    procedure.ProcedureState,
    procedure.EVENTS,
    procedure.evolve,
    lambda s: [("asset", a) for a in s.target_asset_ids]
    + ([("run", s.parent_run_id)] if s.parent_run_id else []),
)
CLEARANCE = Aggregate(
    "clearance",
    clearance.ClearanceState,
    clearance.EVENTS,
    clearance.evolve,
    lambda s: [("run", r) for r in s.run_ids]
    + [("subject", x) for x in s.subject_ids]
    + [("asset", a) for a in s.asset_ids],
)
ASSET = Aggregate(
    "asset",
    equipment.AssetState,
    equipment.ASSET_EVENTS,
    equipment.evolve_asset,
    lambda s: [("device", d) for d in s.device_names]
    + ([("parent", s.parent_id)] if s.parent_id else [])
    + ([("enclosure", s.enclosure_id)] if s.enclosure_id else []),
)
ENCLOSURE = Aggregate(
    "enclosure",
    equipment.EnclosureState,
    equipment.ENCLOSURE_EVENTS,
    equipment.evolve_enclosure,
)
SUBJECT = Aggregate("subject", subject.SubjectState, subject.EVENTS, subject.evolve)
METHOD = Aggregate("method", recipe.MethodState, recipe.METHOD_EVENTS, recipe.evolve_method)
PLAN = Aggregate(
    "plan",
    recipe.PlanState,
    recipe.PLAN_EVENTS,
    recipe.evolve_plan,
    lambda s: [("asset", a) for a in s.asset_ids] + [("method", s.method_id)],
)
CALIBRATION = Aggregate(
    "calibration",
    calibration.CalibrationState,
    calibration.EVENTS,
    calibration.evolve,
    lambda s: [("asset", s.asset_id)],
)

TOKEN = Aggregate(
    "token",
    access.TokenState,
    access.EVENTS,
    access.evolve,
    lambda s: [("secret", s.secret_hash)],
)

PRINCIPAL = Aggregate(
    "principal",
    principal.PrincipalState,
    principal.EVENTS,
    principal.evolve,
    lambda s: [("role", r) for r in s.roles],
)

AGGREGATES = {
    a.kind: a
    for a in (RUN, PROCEDURE, CLEARANCE, ASSET, ENCLOSURE, SUBJECT, METHOD, PLAN, CALIBRATION, TOKEN, PRINCIPAL)
}

#: event type name -> class, for decoding stored streams
EVENT_TYPES: dict[str, type] = {cls.__name__: cls for a in AGGREGATES.values() for cls in a.events}

assert len(EVENT_TYPES) == sum(len(a.events) for a in AGGREGATES.values()), "event names must be unique"


#: How the record reads and writes stored events (see ``event_versions.py``).
CODEC = EventCodec(EVENT_TYPES, VERSIONS, UPCASTERS)
