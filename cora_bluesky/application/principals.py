"""Principal use cases: register principals, change their roles, and take a first administrator."""

from __future__ import annotations

from typing import Iterable

from cora_bluesky.application.aggregates import PRINCIPAL
from cora_bluesky.application.core import RecordCore
from cora_bluesky.application.ports import Page
from cora_bluesky.domain import errors as e
from cora_bluesky.domain import principal as pr
from cora_bluesky.domain.access import Role
from cora_bluesky.domain.principal import PrincipalState


class PrincipalCommands(RecordCore):
    def register_principal(self, *, principal_id: str, roles: Iterable[str] = ()) -> PrincipalState:
        """Register a person or service under ``principal_id`` with its roles.

        Parameters
        ----------
        principal_id : str
            The name events record as the actor (a login name, say).
        roles : iterable of str
            Among ``viewer``, ``operator``, ``safety`` and ``admin``; never operator and safety.
        """
        command = pr.RegisterPrincipal(principal_id, tuple(roles) if not isinstance(roles, str) else roles)
        return self._decide_principal(command)

    def change_principal_roles(self, principal_id: str, *, roles: Iterable[str]) -> PrincipalState:
        """Give ``principal_id`` exactly ``roles`` (an empty list retires it); never one's own."""
        command = pr.ChangePrincipalRoles(principal_id, tuple(roles) if not isinstance(roles, str) else roles)
        return self._decide_principal(command)

    def get_principal(self, principal_id: str) -> PrincipalState:
        return self._require(PRINCIPAL, principal_id, e.PrincipalNotFoundError)

    def list_principals(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        return self._page(PRINCIPAL, limit=limit, cursor=cursor)

    def has_principals(self) -> bool:
        """Whether the record holds any principal (a new record holds none until bootstrapped)."""
        return bool(self._page(PRINCIPAL, limit=1, cursor=None).items)

    def bootstrap(self, *, roles: Iterable[str] = (Role.ADMIN.value,)) -> PrincipalState:
        """Register the acting principal as the first administrator of a record holding none.

        Whoever holds the store (the console, the Python API on the embedded file) is trusted
        to do this once; afterwards only administrators register principals.

        Raises
        ------
        RecordAlreadyBootstrappedError
            The record already holds a principal.
        InvalidPrincipalRolesError
            ``roles`` does not include ``admin``.
        """
        wanted = pr.roles(roles)
        if Role.ADMIN not in wanted:
            raise e.InvalidPrincipalRolesError("the first principal of a record is an administrator", field="roles")
        if self.has_principals():
            raise e.RecordAlreadyBootstrappedError(
                "this record already has principals; an administrator registers more", principal_id=self.principal
            )
        return self._decide_principal(pr.RegisterPrincipal(self.principal, tuple(wanted)))

    def _decide_principal(self, command) -> PrincipalState:
        principal_id = pr.name(command.principal_id)
        context = pr.PrincipalContext(self.now(), self.principal)
        return self._write(PRINCIPAL, principal_id, lambda state: pr.decide(command, state, context), command)
