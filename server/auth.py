"""Bearer tokens: who is calling, and whether their role allows what they ask."""

from __future__ import annotations

from typing import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import Duty, Role, permits

_bearer = HTTPBearer(auto_error=False, description="a token from `cora token create`")


def authorized(record: Record, secret: str, duty: Duty) -> Record:
    """The record bound to the holder of ``secret``, once their role allows ``duty``.

    Every surface establishes who is acting here: the principal comes from the token alone.

    Raises
    ------
    UnauthorizedError
        The secret is not that of an Active token.
    ForbiddenError
        The token's role does not include ``duty``.
    """
    token = record.authenticate(secret)
    if not permits(token.role, duty):
        allowed = sorted(role.value for role in Role if permits(role, duty))
        raise e.ForbiddenError(
            f"{token.principal} holds the {token.role} role; this needs {' or '.join(allowed)}",
            role=token.role.value,
            needs=allowed,
        )
    return record.bound(principal=token.principal)


def acting(duty: Duty) -> Callable[..., Record]:
    """A dependency giving the record bound to the caller, once their role allows ``duty``.

    The principal comes from the token alone; whatever a client says about itself is ignored.
    """

    def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Record:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise e.UnauthorizedError("send Authorization: Bearer <token>; `cora token create` issues one")
        return authorized(request.app.state.record, credentials.credentials, duty)

    return dependency
