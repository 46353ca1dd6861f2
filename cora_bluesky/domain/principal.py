"""Principals: the people and services the record knows, and the one set of roles each holds.

A principal's roles change only by a recorded role change, made by another administrator.
Operator and safety are never held together: the people who run scans do not approve the
clearances their scans need. A principal with no roles may do nothing (that is how one is
retired); principals are never deleted, so the record can always say who acted.

Transitions::

    register        -> registered with its roles
    change_roles    registered -> registered with other roles   (not by the principal itself)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import Role

#: Login names, service names and e-mail-like names; nothing that needs quoting in a path.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
#: Roles no one principal may hold together.
EXCLUSIVE = frozenset({Role.OPERATOR, Role.SAFETY})


@dataclass(frozen=True)
class PrincipalState:
    #: the principal's name, which is also its id
    id: str
    roles: tuple[Role, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RegisterPrincipal:
    principal_id: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class ChangePrincipalRoles:
    principal_id: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class PrincipalRegistered:
    principal_id: str
    roles: tuple[Role, ...]
    occurred_at: datetime


@dataclass(frozen=True)
class PrincipalRolesChanged:
    principal_id: str
    roles: tuple[Role, ...]
    occurred_at: datetime


@dataclass(frozen=True)
class PrincipalContext:
    """The clock and who is acting (a principal does not change its own roles)."""

    now: datetime
    actor: str


initial_state = None


def is_terminal(state: PrincipalState | None) -> bool:
    return False  # a principal is never deleted; a principal with no roles may do nothing


def name(value: object) -> str:
    """A principal name, or :class:`InvalidPrincipalNameError`."""
    if not isinstance(value, str) or NAME.fullmatch(value) is None:
        raise e.InvalidPrincipalNameError(
            "a principal name is 1-100 characters: letters, digits and ._@+- (not first)",
            field="principal_id",
        )
    return value


def roles(values: Iterable[object]) -> tuple[Role, ...]:
    """Distinct known roles in a fixed order, never operator and safety together."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise e.InvalidPrincipalRolesError("roles must be a list of role names", field="roles")
    found: list[Role] = []
    known = {role.value for role in Role}
    for value in values:
        if not isinstance(value, str) or value not in known:
            raise e.InvalidPrincipalRolesError(
                f"roles must be among {', '.join(sorted(known))}", field="roles", role=str(value)[:50]
            )
        if Role(value) in found:
            raise e.InvalidPrincipalRolesError(f"role {value} is listed twice", field="roles", role=value)
        found.append(Role(value))
    if EXCLUSIVE <= set(found):
        raise e.InvalidPrincipalRolesError(
            "operator and safety are held by different people: who runs scans does not approve"
            " the clearances they need",
            field="roles",
        )
    return tuple(role for role in Role if role in found)


def decide(command, state: PrincipalState | None, ctx: PrincipalContext) -> tuple:
    if isinstance(command, RegisterPrincipal):
        principal = name(command.principal_id)
        if state is not None:
            raise e.PrincipalAlreadyExistsError(f"principal {principal} is already registered", principal_id=principal)
        return (PrincipalRegistered(principal, roles(command.roles), ctx.now),)
    if state is None:
        raise e.PrincipalNotFoundError(
            f"no principal {command.principal_id}", principal_id=str(command.principal_id)[:100]
        )
    wanted = roles(command.roles)
    if state.id == ctx.actor:
        raise e.PrincipalCannotChangeOwnRolesError(
            f"{state.id} cannot change its own roles; another administrator can", principal_id=state.id
        )
    if wanted == state.roles:
        raise e.PrincipalRolesUnchangedError(
            f"{state.id} already holds exactly {', '.join(wanted) or 'no roles'}", principal_id=state.id
        )
    return (PrincipalRolesChanged(state.id, wanted, ctx.now),)


def evolve(state: PrincipalState | None, event) -> PrincipalState:
    if isinstance(event, PrincipalRegistered):
        return PrincipalState(event.principal_id, event.roles, event.occurred_at, event.occurred_at)
    assert state is not None
    return replace(state, roles=event.roles, updated_at=event.occurred_at)


EVENTS = (PrincipalRegistered, PrincipalRolesChanged)
