"""Bearer tokens: who is calling, and whether their role allows what they ask."""

from __future__ import annotations

from typing import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import Duty

_bearer = HTTPBearer(auto_error=False, description="a token from `cora token create`")


def authorized(record: Record, secret: str, duty: Duty) -> Record:
    """The record bound to the holder of ``secret`` and its token, once they may do ``duty``.

    Every surface establishes who is acting here: the principal and the token come from the
    secret alone. The duty is checked by the record (as it checks it again for the command),
    so that a refusal comes before the request's body is read.

    Raises
    ------
    UnauthorizedError
        The secret is not that of an Active, unexpired token.
    ForbiddenError
        The principal's roles, narrowed to the token's, do not include ``duty``.
    """
    token = record.authenticate(secret)
    bound = record.bound(principal=token.principal, token_id=token.id)
    bound.authorize(duty)
    return bound


def acting(duty: Duty) -> Callable[..., Record]:
    """A dependency giving the record bound to the caller, once their role allows ``duty``.

    The principal comes from the token alone; whatever a client says about itself is ignored.
    """

    def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Record:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise e.UnauthorizedError("send Authorization: Bearer <token>; `cora token create` issues one")
        return authorized(request.app.state.record, credentials.credentials, duty)

    return dependency
