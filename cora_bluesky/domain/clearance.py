"""Clearance: a facility safety form walked through review; only an Active one is in force.

Transitions (``TRANSITIONS`` below is what :func:`decide` consults)::

    register          -> Defined
    submit            Defined                                  -> Submitted
    start_review      Submitted                                -> UnderReview
    approve           UnderReview                              -> Approved
    reject            Submitted | UnderReview                  -> Rejected     (reason)
    activate          Approved (window not closed)             -> Active
    expire            Approved | Active                        -> Expired
    supersede         Defined .. Active (any non-terminal)     -> Superseded   (reason)

Approved is deliberately not in force: a form that has been signed off is not yet a form that
has been put into effect. Scope (run, subject and asset ids) can be added while Defined only, so
nothing that a reviewer approved can widen afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Iterable

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.rules import CLEARANCE_BINDINGS, CLEARANCE_FORM_NUMBER, CLEARANCE_HAZARDS, CLEARANCE_TITLE
from cora_bluesky.domain.values import At, instant, reason


class ClearanceStatus(StrEnum):
    DEFINED = "Defined"
    SUBMITTED = "Submitted"
    UNDER_REVIEW = "UnderReview"
    APPROVED = "Approved"
    ACTIVE = "Active"
    EXPIRED = "Expired"
    REJECTED = "Rejected"
    SUPERSEDED = "Superseded"


C = ClearanceStatus
TERMINAL = frozenset({C.EXPIRED, C.REJECTED, C.SUPERSEDED})


@dataclass(frozen=True)
class ClearanceState:
    id: str
    form_type: str
    title: str
    hazards: tuple[str, ...]
    run_ids: tuple[str, ...]
    subject_ids: tuple[str, ...]
    asset_ids: tuple[str, ...]
    valid_from: datetime | None
    valid_until: datetime | None
    status: ClearanceStatus
    created_at: datetime
    updated_at: datetime
    last_reason: str | None = None
    superseded_by: str | None = None
    #: the facility's number of the form (an ESAF's number), when it has one
    form_number: str | None = None


# --- commands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterClearance:
    clearance_id: str
    form_type: str
    title: str
    run_ids: tuple[str, ...] = ()
    subject_ids: tuple[str, ...] = ()
    asset_ids: tuple[str, ...] = ()
    hazards: tuple[str, ...] = ()
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    form_number: str | None = None


@dataclass(frozen=True)
class BindClearance:
    clearance_id: str
    run_ids: tuple[str, ...] = ()
    subject_ids: tuple[str, ...] = ()
    asset_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubmitClearance:
    clearance_id: str


@dataclass(frozen=True)
class StartClearanceReview:
    clearance_id: str


@dataclass(frozen=True)
class ApproveClearance:
    clearance_id: str


@dataclass(frozen=True)
class RejectClearance:
    clearance_id: str
    reason: str


@dataclass(frozen=True)
class ActivateClearance:
    clearance_id: str


@dataclass(frozen=True)
class ExpireClearance:
    clearance_id: str


@dataclass(frozen=True)
class SupersedeClearance:
    clearance_id: str
    reason: str
    superseded_by: str | None = None


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClearanceRegistered:
    clearance_id: str
    form_type: str
    title: str
    hazards: tuple[str, ...]
    run_ids: tuple[str, ...]
    subject_ids: tuple[str, ...]
    asset_ids: tuple[str, ...]
    valid_from: datetime | None
    valid_until: datetime | None
    occurred_at: datetime
    # added after streams held registrations: absent there, it reads as no number
    form_number: str | None = None


@dataclass(frozen=True)
class ClearanceBound:
    clearance_id: str
    run_ids: tuple[str, ...]
    subject_ids: tuple[str, ...]
    asset_ids: tuple[str, ...]
    occurred_at: datetime


@dataclass(frozen=True)
class ClearanceSubmitted:
    clearance_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ClearanceReviewStarted:
    clearance_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ClearanceApproved:
    clearance_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ClearanceRejected:
    clearance_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class ClearanceActivated:
    clearance_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ClearanceExpired:
    clearance_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ClearanceSuperseded:
    clearance_id: str
    reason: str
    superseded_by: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class ClearanceContext(At):
    form_types: frozenset[str]


#: command -> (allowed source statuses, refusal)
TRANSITIONS = {
    BindClearance: (frozenset({C.DEFINED}), e.ClearanceCannotBindError),
    SubmitClearance: (frozenset({C.DEFINED}), e.ClearanceCannotSubmitError),
    StartClearanceReview: (frozenset({C.SUBMITTED}), e.ClearanceCannotStartReviewError),
    ApproveClearance: (frozenset({C.UNDER_REVIEW}), e.ClearanceCannotApproveError),
    RejectClearance: (frozenset({C.SUBMITTED, C.UNDER_REVIEW}), e.ClearanceCannotRejectError),
    ActivateClearance: (frozenset({C.APPROVED}), e.ClearanceCannotActivateError),
    ExpireClearance: (frozenset({C.APPROVED, C.ACTIVE}), e.ClearanceCannotExpireError),
    SupersedeClearance: (frozenset(set(C) - TERMINAL), e.ClearanceCannotSupersedeError),
}

#: event -> the status it leaves the clearance in
TARGET = {
    ClearanceSubmitted: C.SUBMITTED,
    ClearanceReviewStarted: C.UNDER_REVIEW,
    ClearanceApproved: C.APPROVED,
    ClearanceRejected: C.REJECTED,
    ClearanceActivated: C.ACTIVE,
    ClearanceExpired: C.EXPIRED,
    ClearanceSuperseded: C.SUPERSEDED,
}

initial_state = None


def is_terminal(state: ClearanceState | None) -> bool:
    return state is not None and state.status in TERMINAL


def in_force(clearance: ClearanceState, now: datetime) -> bool:
    """Active, and ``now`` inside the validity window (open ends are unbounded)."""
    if clearance.status is not C.ACTIVE:
        return False
    if clearance.valid_from is not None and now < clearance.valid_from:
        return False
    return clearance.valid_until is None or now < clearance.valid_until


def references(
    clearance: ClearanceState, run_id: str, subject_id: str | None, asset_ids: Iterable[str]
) -> bool:
    """Whether the clearance is bound to the run, its subject or any of its assets."""
    if run_id in clearance.run_ids:
        return True
    if subject_id is not None and subject_id in clearance.subject_ids:
        return True
    return not set(clearance.asset_ids).isdisjoint(asset_ids)


def _ids(values, what: str) -> tuple[str, ...]:
    return CLEARANCE_BINDINGS.check_each(values, what=what)


def decide(command, state: ClearanceState | None, ctx: At) -> tuple:
    if isinstance(command, RegisterClearance):
        return _register(command, state, ctx)
    if state is None:
        raise e.ClearanceNotFoundError(
            f"no clearance {command.clearance_id}", clearance_id=command.clearance_id
        )
    sources, refusal = TRANSITIONS[type(command)]
    if state.status not in sources:
        raise refusal(
            f"clearance {state.title!r} is {state.status}", clearance_id=state.id, status=state.status
        )
    cid, now = state.id, ctx.now
    match command:
        case BindClearance():
            runs, subjects, assets = (
                _ids(command.run_ids, "run_ids"),
                _ids(command.subject_ids, "subject_ids"),
                _ids(command.asset_ids, "asset_ids"),
            )
            if not (runs or subjects or assets):
                raise e.InvalidClearanceBindingsError("nothing to bind", clearance_id=cid)
            return (ClearanceBound(cid, runs, subjects, assets, now),)
        case SubmitClearance():
            return (ClearanceSubmitted(cid, now),)
        case StartClearanceReview():
            return (ClearanceReviewStarted(cid, now),)
        case ApproveClearance():
            return (ClearanceApproved(cid, now),)
        case RejectClearance():
            return (ClearanceRejected(cid, reason(command.reason, e.InvalidClearanceReasonError), now),)
        case ActivateClearance():
            if state.valid_until is not None and now >= state.valid_until:
                raise e.ClearanceCannotActivateError(
                    f"clearance {state.title!r} stopped being valid at {state.valid_until.isoformat()}",
                    clearance_id=cid,
                    valid_until=state.valid_until.isoformat(),
                )
            return (ClearanceActivated(cid, now),)
        case ExpireClearance():
            return (ClearanceExpired(cid, now),)
        case SupersedeClearance():
            why = reason(command.reason, e.InvalidClearanceReasonError)
            successor = CLEARANCE_BINDINGS.check_optional(command.superseded_by, what="superseded_by")
            return (ClearanceSuperseded(cid, why, successor, now),)
    raise TypeError(f"not a clearance command: {command!r}")


def _register(command: RegisterClearance, state: ClearanceState | None, ctx: At) -> tuple:
    if state is not None:
        raise e.ClearanceAlreadyExistsError(
            f"clearance {command.clearance_id} already exists", clearance_id=command.clearance_id
        )
    assert isinstance(ctx, ClearanceContext)
    if command.form_type not in ctx.form_types:
        raise e.ClearanceFormTypeNotFoundError(
            f"form type {command.form_type!r} is not registered; known: {', '.join(sorted(ctx.form_types))}",
            form_type=str(command.form_type),
        )
    title = CLEARANCE_TITLE.check(command.title)
    hazards = CLEARANCE_HAZARDS.check_each(command.hazards)
    number = CLEARANCE_FORM_NUMBER.check_optional(command.form_number)
    runs = _ids(command.run_ids, "run_ids")
    subjects = _ids(command.subject_ids, "subject_ids")
    assets = _ids(command.asset_ids, "asset_ids")
    if not (runs or subjects or assets):
        raise e.InvalidClearanceBindingsError(
            "a clearance must be bound to at least one run, subject or asset id"
        )
    start = command.valid_from
    end = command.valid_until
    if start is not None:
        instant(start, e.InvalidClearanceWindowError, what="valid_from")
    if end is not None:
        instant(end, e.InvalidClearanceWindowError, what="valid_until")
    if start is not None and end is not None and end <= start:
        raise e.InvalidClearanceWindowError("valid_until must be later than valid_from")
    return (
        ClearanceRegistered(
            command.clearance_id, command.form_type, title, hazards, runs, subjects, assets, start, end, ctx.now,
            number,
        ),
    )


def evolve(state: ClearanceState | None, event) -> ClearanceState:
    if isinstance(event, ClearanceRegistered):
        return ClearanceState(
            id=event.clearance_id,
            form_type=event.form_type,
            title=event.title,
            hazards=event.hazards,
            run_ids=event.run_ids,
            subject_ids=event.subject_ids,
            asset_ids=event.asset_ids,
            valid_from=event.valid_from,
            valid_until=event.valid_until,
            status=C.DEFINED,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
            form_number=event.form_number,
        )
    assert state is not None
    if isinstance(event, ClearanceBound):

        def union(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
            return old + tuple(item for item in new if item not in old)

        return replace(
            state,
            run_ids=union(state.run_ids, event.run_ids),
            subject_ids=union(state.subject_ids, event.subject_ids),
            asset_ids=union(state.asset_ids, event.asset_ids),
            updated_at=event.occurred_at,
        )
    changes = {"status": TARGET[type(event)], "updated_at": event.occurred_at}
    if isinstance(event, (ClearanceRejected, ClearanceSuperseded)):
        changes["last_reason"] = event.reason
    if isinstance(event, ClearanceSuperseded):
        changes["superseded_by"] = event.superseded_by
    return replace(state, **changes)


EVENTS = (ClearanceRegistered, ClearanceBound, *TARGET)
