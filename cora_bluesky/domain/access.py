"""Access: bearer tokens, the roles they carry and what each role may do.

A token is stored as the hash of its secret only; the secret is shown once, when issued.
Roles are separate duties, not a ladder: an administrator who describes the beamline does not
thereby approve safety forms or drive runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.rules import TOKEN_PRINCIPAL, TOKEN_SECRET_HASH
from cora_bluesky.domain.values import At


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    SAFETY = "safety"
    ADMIN = "admin"


class Duty(StrEnum):
    """What a request does, as far as access is concerned."""

    READ = "read"
    #: run and procedure commands, readings, steps, subjects and calibrations
    OPERATE = "operate"
    #: filing a safety form and adding scope to it before review
    FILE_CLEARANCE = "file_clearance"
    #: the review transitions of a clearance
    REVIEW = "review"
    #: equipment, methods, plans and tokens
    ADMINISTER = "administer"


#: role -> the duties it may perform
GRANTS: dict[Role, frozenset[Duty]] = {
    Role.VIEWER: frozenset({Duty.READ}),
    Role.OPERATOR: frozenset({Duty.READ, Duty.OPERATE, Duty.FILE_CLEARANCE}),
    Role.SAFETY: frozenset({Duty.READ, Duty.FILE_CLEARANCE, Duty.REVIEW}),
    Role.ADMIN: frozenset({Duty.READ, Duty.ADMINISTER}),
}


class TokenStatus(StrEnum):
    ACTIVE = "Active"
    REVOKED = "Revoked"


@dataclass(frozen=True)
class TokenState:
    id: str
    principal: str
    role: Role
    secret_hash: str
    status: TokenStatus
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class IssueToken:
    token_id: str
    principal: str
    role: str
    #: a hash of the secret; the secret itself never reaches the record
    secret_hash: str


@dataclass(frozen=True)
class RevokeToken:
    token_id: str


@dataclass(frozen=True)
class TokenIssued:
    token_id: str
    principal: str
    role: Role
    secret_hash: str
    occurred_at: datetime


@dataclass(frozen=True)
class TokenRevoked:
    token_id: str
    occurred_at: datetime


initial_state = None


def is_terminal(state: TokenState | None) -> bool:
    return state is not None and state.status is TokenStatus.REVOKED


def permits(role: Role, duty: Duty) -> bool:
    """Whether ``role`` may perform ``duty``."""
    return duty in GRANTS[role]


def decide(command, state: TokenState | None, ctx: At) -> tuple:
    if isinstance(command, IssueToken):
        if state is not None:
            raise e.TokenAlreadyExistsError(f"token {command.token_id} already exists", token_id=command.token_id)
        principal = TOKEN_PRINCIPAL.check(command.principal)
        if command.role not in {role.value for role in Role}:
            raise e.InvalidTokenRoleError(
                f"role must be one of {', '.join(r.value for r in Role)}", role=str(command.role)[:50]
            )
        digest = TOKEN_SECRET_HASH.check(command.secret_hash)
        return (TokenIssued(command.token_id, principal, Role(command.role), digest, ctx.now),)
    if state is None:
        raise e.TokenNotFoundError(f"no token {command.token_id}", token_id=command.token_id)
    if state.status is not TokenStatus.ACTIVE:
        raise e.TokenCannotRevokeError(f"token {state.id} is already revoked", token_id=state.id)
    return (TokenRevoked(state.id, ctx.now),)


def evolve(state: TokenState | None, event) -> TokenState:
    if isinstance(event, TokenIssued):
        return TokenState(
            event.token_id,
            event.principal,
            event.role,
            event.secret_hash,
            TokenStatus.ACTIVE,
            event.occurred_at,
            event.occurred_at,
        )
    assert state is not None
    return replace(state, status=TokenStatus.REVOKED, updated_at=event.occurred_at)


EVENTS = (TokenIssued, TokenRevoked)
