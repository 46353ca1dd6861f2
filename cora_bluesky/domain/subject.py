"""Subject: the sample under the beam, and whether it is on the stage."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.rules import SUBJECT_NAME
from cora_bluesky.domain.values import At


class SubjectStatus(StrEnum):
    REGISTERED = "Registered"
    MOUNTED = "Mounted"
    MEASURED = "Measured"
    UNMOUNTED = "Unmounted"


#: Statuses in which a run may bind the subject.
MEASURABLE = frozenset({SubjectStatus.MOUNTED, SubjectStatus.MEASURED})


@dataclass(frozen=True)
class SubjectState:
    id: str
    name: str
    status: SubjectStatus
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RegisterSubject:
    subject_id: str
    name: str


@dataclass(frozen=True)
class MountSubject:
    subject_id: str


@dataclass(frozen=True)
class MarkSubjectMeasured:
    subject_id: str


@dataclass(frozen=True)
class UnmountSubject:
    subject_id: str


@dataclass(frozen=True)
class SubjectRegistered:
    subject_id: str
    name: str
    occurred_at: datetime


@dataclass(frozen=True)
class SubjectMounted:
    subject_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class SubjectMeasured:
    subject_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class SubjectUnmounted:
    subject_id: str
    occurred_at: datetime


S = SubjectStatus
#: command -> (allowed source statuses, event, refusal)
TRANSITIONS = {
    MountSubject: ({S.REGISTERED, S.UNMOUNTED}, SubjectMounted, e.SubjectCannotMountError),
    MarkSubjectMeasured: ({S.MOUNTED}, SubjectMeasured, e.SubjectCannotMarkMeasuredError),
    UnmountSubject: ({S.MOUNTED, S.MEASURED}, SubjectUnmounted, e.SubjectCannotUnmountError),
}
TARGET = {SubjectMounted: S.MOUNTED, SubjectMeasured: S.MEASURED, SubjectUnmounted: S.UNMOUNTED}

initial_state = None


def is_terminal(state: SubjectState | None) -> bool:
    """A subject can always be mounted again; it has no terminal state."""
    return False


def decide(command, state: SubjectState | None, ctx: At) -> tuple:
    if isinstance(command, RegisterSubject):
        if state is not None:
            raise e.SubjectAlreadyExistsError(
                f"subject {command.subject_id} already exists", subject_id=command.subject_id
            )
        name = SUBJECT_NAME.check(command.name)
        return (SubjectRegistered(command.subject_id, name, ctx.now),)
    if state is None:
        raise e.SubjectNotFoundError(f"no subject {command.subject_id}", subject_id=command.subject_id)
    sources, event, refusal = TRANSITIONS[type(command)]
    if state.status not in sources:
        raise refusal(f"subject {state.name} is {state.status}", subject_id=state.id, status=state.status)
    return (event(state.id, ctx.now),)


def evolve(state: SubjectState | None, event) -> SubjectState:
    if isinstance(event, SubjectRegistered):
        return SubjectState(event.subject_id, event.name, S.REGISTERED, event.occurred_at, event.occurred_at)
    assert state is not None
    return replace(state, status=TARGET[type(event)], updated_at=event.occurred_at)


EVENTS = (SubjectRegistered, *TARGET)
