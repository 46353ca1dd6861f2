"""Who is looking: a bearer token kept in an HttpOnly cookie, checked on every request."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse

from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import Duty, Role, permits
from cora_bluesky.server.auth import authorized

#: where the view lives and the cookie is sent
PREFIX = "/view"
COOKIE = "cora_view_token"


@dataclass(frozen=True)
class Viewer:
    """The person behind the cookie: the record bound to them, their name and their role."""

    record: Record
    principal: str
    role: Role
    secret: str

    def may(self, duty: Duty | str) -> bool:
        """Whether the viewer's role grants ``duty``: a control is shown only then."""
        return permits(self.role, Duty(duty))

    def acting(self, duty: Duty | str) -> Record:
        """The record bound to the viewer for ``duty``, checked as every REST call is."""
        return authorized(self.record, self.secret, Duty(duty))


class SignInRequired(Exception):
    """No valid token: the page answers with the sign-in form instead."""


def viewer(request: Request) -> Viewer:
    """The viewer of ``request``, from the cookie's token; raises :class:`SignInRequired`.

    The token is checked on every request, so a revoked token signs its holder out at once.
    """
    secret = request.cookies.get(COOKIE)
    if not secret:
        raise SignInRequired()
    record: Record = request.app.state.record
    try:
        bound = authorized(record, secret, Duty.READ)
    except e.UnauthorizedError:
        raise SignInRequired() from None
    token = record.authenticate(secret)
    return Viewer(bound, token.principal, token.role, secret)


def to_sign_in(request: Request) -> RedirectResponse:
    """A redirect to the sign-in form that comes back to the page asked for."""
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    answer = RedirectResponse(f"{PREFIX}/sign-in?next={quote(wanted, safe='')}", status_code=303)
    answer.delete_cookie(COOKIE, path=PREFIX)
    return answer


def signed_in(request: Request, secret: str, next_page: str) -> RedirectResponse:
    """The redirect after a good sign-in, setting the cookie that carries the token."""
    answer = RedirectResponse(next_page, status_code=303)
    answer.set_cookie(
        COOKIE, secret, path=PREFIX, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return answer


def safe_next(value: str | None) -> str:
    """Only a page of the view itself is a place to go after signing in (no open redirect)."""
    if value and value.startswith(f"{PREFIX}/") and not value.startswith("//") and "\\" not in value:
        return value
    return f"{PREFIX}/runs"
