"""Access: bearer tokens, the roles they carry and what each role may do.

A token is stored as the hash of its secret only; the secret is shown once, when issued.
Roles are separate duties, not a ladder: an administrator who describes the beamline does not
thereby approve safety forms or drive runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Iterable

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.rules import TOKEN_PRINCIPAL, TOKEN_SECRET_HASH
from cora_bluesky.domain.values import At, instant


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
    #: after this instant the token authenticates nothing; ``None``: until revoked
    expires_at: datetime | None = None

    def valid_at(self, now: datetime) -> bool:
        """Whether the token authenticates at ``now``."""
        return self.status is TokenStatus.ACTIVE and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class IssueToken:
    token_id: str
    principal: str
    role: str
    #: a hash of the secret; the secret itself never reaches the record
    secret_hash: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class IssueContext:
    """What issuing a token is decided against.

    ``principal_roles`` is ``None`` when no principal of that name is registered;
    ``issuer_roles`` holds the roles of the token the issuer acts through, or ``None`` when the
    issuer acts from a session of its own (the console, the Python API).
    """

    now: datetime
    principal_roles: frozenset[Role] | None
    issuer_roles: frozenset[Role] | None = None


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
    expires_at: datetime | None = None


@dataclass(frozen=True)
class TokenRevoked:
    token_id: str
    occurred_at: datetime


initial_state = None


def is_terminal(state: TokenState | None) -> bool:
    return state is not None and state.status is TokenStatus.REVOKED


def duties(roles: Iterable[Role]) -> frozenset[Duty]:
    """Every duty some role in ``roles`` may perform."""
    return frozenset(duty for role in roles for duty in GRANTS[role])


def permits(role: Role, duty: Duty) -> bool:
    """Whether ``role`` may perform ``duty``."""
    return duty in GRANTS[role]


def decide(command, state: TokenState | None, ctx: At | IssueContext) -> tuple:
    if isinstance(command, IssueToken):
        assert isinstance(ctx, IssueContext)
        if state is not None:
            raise e.TokenAlreadyExistsError(f"token {command.token_id} already exists", token_id=command.token_id)
        principal = TOKEN_PRINCIPAL.check(command.principal)
        if command.role not in {role.value for role in Role}:
            raise e.InvalidTokenRoleError(
                f"role must be one of {', '.join(r.value for r in Role)}", role=str(command.role)[:50]
            )
        role = Role(command.role)
        digest = TOKEN_SECRET_HASH.check(command.secret_hash)
        expires_at = command.expires_at
        if expires_at is not None:
            instant(expires_at, e.InvalidTokenExpiryError, what="expires_at")
            if expires_at <= ctx.now:
                raise e.InvalidTokenExpiryError(
                    f"expires_at {expires_at.isoformat()} is not after now ({ctx.now.isoformat()})",
                    field="expires_at",
                )
        if ctx.principal_roles is None:
            raise e.PrincipalNotFoundError(
                f"no principal {principal}: register it before issuing it a token", principal_id=principal
            )
        if role not in ctx.principal_roles:
            raise e.TokenRoleNotHeldError(
                f"{principal} does not hold the {role} role; a token cannot widen its principal's roles",
                principal_id=principal, role=role.value, held=sorted(r.value for r in ctx.principal_roles),
            )
        if ctx.issuer_roles is not None and not GRANTS[role] <= duties(ctx.issuer_roles):
            raise e.TokenCannotWidenIssuerError(
                f"a {role} token may do what the issuing token may not, so it cannot issue one",
                principal_id=principal, role=role.value, issuer_roles=sorted(r.value for r in ctx.issuer_roles),
            )
        return (TokenIssued(command.token_id, principal, role, digest, ctx.now, expires_at),)
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
            event.expires_at,
        )
    assert state is not None
    return replace(state, status=TokenStatus.REVOKED, updated_at=event.occurred_at)


EVENTS = (TokenIssued, TokenRevoked)
