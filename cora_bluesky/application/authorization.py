"""Authorization: the record checks the acting principal's duty before any decider runs.

Every surface (the Python API, the RunEngine's gate and recorder, the console, REST and MCP)
reaches the record through the methods the slice table names, and each of them is guarded here
by its row's duty. Edges only establish who is acting (and through which token).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from cora_bluesky.application.aggregates import PRINCIPAL, TOKEN
from cora_bluesky.application.core import RecordCore
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import Duty, Role, permits

T = TypeVar("T", bound=type)


class Authorization(RecordCore):
    def acting_roles(self) -> frozenset[Role]:
        """The roles the acting principal holds now, narrowed to its token's role.

        Read from the record on every check, so a role change or a revoked token takes effect
        at the next command.

        Raises
        ------
        PrincipalNotRegisteredError
            The acting name is not a principal of this record.
        UnauthorizedError
            The bound token is unknown, revoked, expired or another principal's.
        """
        principal = self._view(PRINCIPAL, self.principal)
        if principal is None:
            raise e.PrincipalNotRegisteredError(
                f"{self.principal!s:.100} is not a principal of this record; an administrator registers"
                " principals (`cora principal register`), and a new record takes its first with"
                " `cora principal bootstrap`",
                principal_id=str(self.principal)[:100],
            )
        held = frozenset(principal.roles)
        if self.token_id is None:
            return held
        token = self._view(TOKEN, self.token_id)
        if token is None or token.principal != principal.id or not token.valid_at(self.now()):
            raise e.UnauthorizedError("the bearer token is not valid; ask an administrator for one")
        return held & {token.role}

    def authorize(self, duty: Duty) -> None:
        """Refuse unless the acting principal may perform ``duty`` now.

        Raises
        ------
        ForbiddenError
            Its roles do not include ``duty`` (``PrincipalNotRegisteredError`` for an unknown name).
        """
        roles = self.acting_roles()
        if not any(permits(role, duty) for role in roles):
            allowed = sorted(role.value for role in Role if permits(role, duty))
            held = ", ".join(sorted(roles)) or "no role"
            raise e.ForbiddenError(
                f"{self.principal} holds {held}{' through this token' if self.token_id else ''};"
                f" {duty.value} needs {' or '.join(allowed)}",
                role=",".join(sorted(roles)),
                needs=allowed,
                principal_id=str(self.principal)[:100],
            )


def guarded(method: Callable[..., Any], duty: Duty) -> Callable[..., Any]:
    """``method`` behind a check of ``duty`` for whoever the record is bound to."""

    @functools.wraps(method)
    def guard(self: Authorization, *args: Any, **kwargs: Any) -> Any:
        self.authorize(duty)
        return method(self, *args, **kwargs)

    guard.duty = duty  # type: ignore[attr-defined]
    return guard


def guard_slices(cls: T) -> T:
    """Guard every method of ``cls`` that a row of the slice table names, by the row's duty."""
    from cora_bluesky.application.slices import SLICES

    for row in SLICES:
        setattr(cls, row.tool, guarded(getattr(cls, row.tool), row.duty))
    return cls
