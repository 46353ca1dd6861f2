"""Access use cases: issue and revoke bearer tokens, and tell who holds one."""

from __future__ import annotations

import hashlib
import secrets

from datetime import datetime

from cora_bluesky.application.aggregates import PRINCIPAL, TOKEN
from cora_bluesky.application.core import RecordCore, new_id
from cora_bluesky.application.ports import Page
from cora_bluesky.domain import access as ac
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import TokenState
from cora_bluesky.domain.values import At

#: Bearer secrets longer than this are refused unread.
MAX_SECRET_CHARS = 200


def secret_hash(secret: str) -> str:
    """The stored form of a bearer secret.

    Secrets are 256 random bits, so a plain SHA-256 cannot be reversed by guessing; a slow
    password hash would only slow every request.
    """
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class AccessCommands(RecordCore):
    def issue_token(
        self, *, principal: str, role: str, token_id: str | None = None, expires_at: datetime | None = None
    ) -> tuple[TokenState, str]:
        """Issue a bearer token; returns the token and its secret, which is never stored.

        Parameters
        ----------
        principal : str
            The registered principal the token acts for; lands on every event written with it.
        role : str
            One of the principal's roles (a token never widens them). Issued through a token, it
            may do nothing that token may not, so no one mints a credential they do not hold.
        expires_at : datetime, optional
            After this instant the token authenticates nothing.
        """
        secret = "cora_" + secrets.token_urlsafe(32)
        command = ac.IssueToken(token_id or new_id(), principal, role, secret_hash(secret), expires_at)

        def decide(state):
            held = self._view(PRINCIPAL, principal.strip() if isinstance(principal, str) else principal)
            context = ac.IssueContext(
                self.now(),
                None if held is None else frozenset(held.roles),
                None if self.token_id is None else self.acting_roles(),
            )
            return ac.decide(command, state, context)

        state = self._write(TOKEN, command.token_id, decide, command)
        return state, secret

    def revoke_token(self, token_id: str) -> TokenState:
        """Revoke a token: it authenticates nothing from now on."""
        command = ac.RevokeToken(token_id)
        return self._write(TOKEN, token_id, lambda state: ac.decide(command, state, At(self.now())), command)

    def get_token(self, token_id: str) -> TokenState:
        return self._require(TOKEN, token_id, e.TokenNotFoundError)

    def list_tokens(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        return self._page(TOKEN, limit=limit, cursor=cursor)

    def authenticate(self, secret: str) -> TokenState:
        """The Active token this secret belongs to.

        Raises
        ------
        UnauthorizedError
            For an unknown, malformed or revoked secret (all alike, so nothing is revealed).
        """
        if not isinstance(secret, str) or not 1 <= len(secret) <= MAX_SECRET_CHARS:
            raise e.UnauthorizedError("the bearer token is not valid")
        found = self._find(TOKEN, refs=[("secret", secret_hash(secret))])
        now = self.now()
        active = [token for token in found if token.valid_at(now)]
        if not active:
            raise e.UnauthorizedError("the bearer token is not valid; ask an administrator for one")
        return active[0]
