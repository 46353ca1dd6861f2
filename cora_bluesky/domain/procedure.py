"""Procedure: an episodic operational task (alignment, calibration) that leaves no dataset.

Transitions (``TRANSITIONS`` below is what :func:`decide` consults)::

    register_procedure   (none)    -> Defined
    start_procedure      Defined   -> Running     guard: no target asset decommissioned
    complete_procedure   Running   -> Completed
    abort_procedure      Running   -> Aborted     reason
    truncate_procedure   Running   -> Truncated   reason, optional interrupted_at

With ``parent_run_id`` set the procedure is a phase of that run; it is not validated here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Mapping

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.equipment import AssetState, AssetStatus
from cora_bluesky.domain.rules import ASSET_IDS, ID_LENGTH, PROCEDURE_CAPABILITY_ID, PROCEDURE_KIND, PROCEDURE_NAME, STEP_KIND
from cora_bluesky.domain.values import (
    At,
    entry_id,
    interruption,
    json_object,
    optional_text,
    reason,
    sampled_at,
)


class ProcedureStatus(StrEnum):
    DEFINED = "Defined"
    RUNNING = "Running"
    COMPLETED = "Completed"
    ABORTED = "Aborted"
    TRUNCATED = "Truncated"


P = ProcedureStatus
TERMINAL = frozenset({P.COMPLETED, P.ABORTED, P.TRUNCATED})
STEP_KINDS = frozenset(STEP_KIND.allowed)
STEPS_SCHEMA = "procedure-step/v1"


@dataclass(frozen=True)
class ProcedureState:
    id: str
    name: str
    kind: str
    target_asset_ids: tuple[str, ...]
    parent_run_id: str | None
    capability_id: str | None
    status: ProcedureStatus
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    steps_logbook_id: str | None = None
    last_status_changed_at: datetime | None = None
    last_status_reason: str | None = None
    interrupted_at: datetime | None = None


@dataclass(frozen=True)
class RegisterProcedure:
    procedure_id: str
    name: str
    kind: str
    target_asset_ids: tuple[str, ...] = ()
    parent_run_id: str | None = None
    capability_id: str | None = None


@dataclass(frozen=True)
class StartProcedure:
    procedure_id: str


@dataclass(frozen=True)
class CompleteProcedure:
    procedure_id: str


@dataclass(frozen=True)
class AbortProcedure:
    procedure_id: str
    reason: str


@dataclass(frozen=True)
class TruncateProcedure:
    procedure_id: str
    reason: str
    interrupted_at: datetime | None = None


@dataclass(frozen=True)
class Step:
    """One step offered to the procedure's logbook."""

    event_id: str
    step_kind: str
    payload: Mapping[str, Any]
    sampled_at: datetime


@dataclass(frozen=True)
class AppendProcedureStep:
    """Steps for the logbook, one or a batch (the spec's slice takes entries in one request)."""

    procedure_id: str
    entries: tuple[Step, ...]


@dataclass(frozen=True)
class ProcedureRegistered:
    procedure_id: str
    name: str
    kind: str
    target_asset_ids: tuple[str, ...]
    parent_run_id: str | None
    capability_id: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class ProcedureStarted:
    procedure_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ProcedureStepsLogbookOpened:
    procedure_id: str
    logbook_id: str
    kind: str
    schema: str
    occurred_at: datetime


@dataclass(frozen=True)
class ProcedureCompleted:
    procedure_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ProcedureAborted:
    procedure_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class ProcedureTruncated:
    procedure_id: str
    reason: str
    interrupted_at: datetime | None
    occurred_at: datetime


@dataclass(frozen=True)
class ProcedureStep:
    """A row of the steps logbook; written beside the stream, never as an event on it."""

    event_id: str
    procedure_id: str
    logbook_id: str
    step_kind: str
    payload: Mapping[str, Any]
    sampled_at: datetime
    occurred_at: datetime


@dataclass(frozen=True)
class StartProcedureContext(At):
    #: Target assets the record holds, by id.
    assets: Mapping[str, AssetState]


@dataclass(frozen=True)
class StepsContext(At):
    new_logbook_id: str


#: command -> (allowed source statuses, refusal)
TRANSITIONS = {
    StartProcedure: (frozenset({P.DEFINED}), e.ProcedureCannotStartError),
    CompleteProcedure: (frozenset({P.RUNNING}), e.ProcedureCannotCompleteError),
    AbortProcedure: (frozenset({P.RUNNING}), e.ProcedureCannotAbortError),
    TruncateProcedure: (frozenset({P.RUNNING}), e.ProcedureCannotTruncateError),
    AppendProcedureStep: (frozenset({P.RUNNING}), e.ProcedureStepsLogbookClosedError),
}

TARGET = {
    ProcedureStarted: P.RUNNING,
    ProcedureCompleted: P.COMPLETED,
    ProcedureAborted: P.ABORTED,
    ProcedureTruncated: P.TRUNCATED,
}

REASON_ERRORS = {
    AbortProcedure: e.InvalidProcedureAbortReasonError,
    TruncateProcedure: e.InvalidProcedureTruncateReasonError,
}

initial_state = None


def is_terminal(state: ProcedureState | None) -> bool:
    return state is not None and state.status in TERMINAL


def _source_check(command, state: ProcedureState | None) -> ProcedureState:
    if state is None:
        raise e.ProcedureNotFoundError(
            f"no procedure {command.procedure_id}", procedure_id=str(command.procedure_id)
        )
    sources, refusal = TRANSITIONS[type(command)]
    if state.status not in sources:
        raise refusal(
            f"procedure {state.name!r} is {state.status}", procedure_id=state.id, status=str(state.status)
        )
    return state


def decide(command, state: ProcedureState | None, ctx: At) -> tuple:
    """Decide any procedure command except step appends (see :func:`decide_steps`)."""
    if isinstance(command, RegisterProcedure):
        return _register(command, state, ctx)
    why = reason(command.reason, REASON_ERRORS[type(command)]) if type(command) in REASON_ERRORS else None
    state = _source_check(command, state)
    now = ctx.now
    match command:
        case StartProcedure():
            assert isinstance(ctx, StartProcedureContext)
            unknown = [a for a in state.target_asset_ids if a not in ctx.assets]
            if unknown:
                raise e.AssetNotFoundError(f"no asset {unknown[0]}", asset_id=unknown[0])
            retired = [
                ctx.assets[a].name
                for a in state.target_asset_ids
                if ctx.assets[a].status is AssetStatus.DECOMMISSIONED
            ]
            if retired:
                raise e.ProcedureAssetDecommissionedError(
                    f"asset(s) {', '.join(retired)} are decommissioned", assets=retired
                )
            return (ProcedureStarted(state.id, now),)
        case CompleteProcedure():
            return (ProcedureCompleted(state.id, now),)
        case AbortProcedure():
            return (ProcedureAborted(state.id, why, now),)
        case TruncateProcedure():
            when = interruption(
                command.interrupted_at,
                started_at=state.started_at or state.created_at,
                now=now,
                error=e.InvalidProcedureInterruptedAtError,
            )
            return (ProcedureTruncated(state.id, why, when, now),)
    raise TypeError(f"not a procedure command: {command!r}")


def _register(command: RegisterProcedure, state: ProcedureState | None, ctx: At) -> tuple:
    if state is not None:
        raise e.ProcedureAlreadyExistsError(
            f"procedure {command.procedure_id} already exists", procedure_id=command.procedure_id
        )
    name = PROCEDURE_NAME.check(command.name)
    kind = PROCEDURE_KIND.check(command.kind)
    targets = ASSET_IDS.check_each(command.target_asset_ids, what="target_asset_ids")
    parent = optional_text(command.parent_run_id, e.RunNotFoundError, what="parent_run_id", high=ID_LENGTH)
    capability = PROCEDURE_CAPABILITY_ID.check_optional(command.capability_id)
    return (ProcedureRegistered(command.procedure_id, name, kind, targets, parent, capability, ctx.now),)


def decide_steps(
    command: AppendProcedureStep, state: ProcedureState | None, ctx: StepsContext
) -> tuple[tuple, tuple[ProcedureStep, ...]]:
    """Validate a batch of steps; returns the events (a lazy logbook open) and the rows."""
    state = _source_check(command, state)
    events: tuple = ()
    logbook = state.steps_logbook_id
    if logbook is None and command.entries:
        logbook = ctx.new_logbook_id
        events = (ProcedureStepsLogbookOpened(state.id, logbook, "steps", STEPS_SCHEMA, ctx.now),)
    rows = []
    for step in command.entries:
        STEP_KIND.check(step.step_kind)
        rows.append(
            ProcedureStep(
                event_id=entry_id(step.event_id, e.InvalidEntryIdError),
                procedure_id=state.id,
                logbook_id=logbook,
                step_kind=step.step_kind,
                payload=json_object(step.payload, e.InvalidStepPayloadError, what="payload"),
                sampled_at=sampled_at(step.sampled_at, now=ctx.now, error=e.InvalidStepSampledAtError),
                occurred_at=ctx.now,
            )
        )
    return events, tuple(rows)


def evolve(state: ProcedureState | None, event) -> ProcedureState:
    if isinstance(event, ProcedureRegistered):
        return ProcedureState(
            id=event.procedure_id,
            name=event.name,
            kind=event.kind,
            target_asset_ids=event.target_asset_ids,
            parent_run_id=event.parent_run_id,
            capability_id=event.capability_id,
            status=P.DEFINED,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
    assert state is not None
    if isinstance(event, ProcedureStepsLogbookOpened):
        return replace(state, steps_logbook_id=event.logbook_id, updated_at=event.occurred_at)
    changes: dict[str, Any] = {
        "status": TARGET[type(event)],
        "updated_at": event.occurred_at,
        "last_status_changed_at": event.occurred_at,
    }
    if isinstance(event, ProcedureStarted):
        changes["started_at"] = event.occurred_at
    if isinstance(event, (ProcedureAborted, ProcedureTruncated)):
        changes["last_status_reason"] = event.reason
    if isinstance(event, ProcedureTruncated):
        changes["interrupted_at"] = event.interrupted_at
    return replace(state, **changes)


EVENTS = (
    ProcedureRegistered,
    ProcedureStarted,
    ProcedureStepsLogbookOpened,
    ProcedureCompleted,
    ProcedureAborted,
    ProcedureTruncated,
)
