"""The one place where refusals become HTTP: status codes, error bodies, OpenAPI entries."""

from __future__ import annotations

import logging
from typing import Any, Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from cora_bluesky.application.messages import INVALID_TEXT
from cora_bluesky.domain import errors as e

log = logging.getLogger("cora_bluesky.server")

#: error family -> HTTP status, most specific first
STATUS: tuple[tuple[type[e.CoraError], int], ...] = (
    (e.UnauthorizedError, 401),
    (e.ForbiddenError, 403),
    (e.RequestTooLargeError, 413),
    (e.NotFoundError, 404),
    (e.ConflictError, 409),
    (e.InvalidInputError, 422),
    (e.StoreError, 503),
    # the record holds an event this version cannot read: the server's fault, not the caller's
    (e.UnreadableEventError, 500),
)


class ErrorBody(BaseModel):
    """Every refusal: the spec's error name, a message for people, and the facts to act on."""

    model_config = ConfigDict(extra="allow")
    error: str
    message: str


def status_of(error: e.CoraError | type[e.CoraError]) -> int:
    """The HTTP status of a refusal, or of a refusal class."""
    kind = error if isinstance(error, type) else type(error)
    for family, status in STATUS:
        if issubclass(kind, family):
            return status
    return 400


def body_of(error: e.CoraError) -> dict[str, Any]:
    return {**error.data, "error": error.name, "message": error.message}


def respond(error: e.CoraError, headers: dict[str, str] | None = None) -> JSONResponse:
    if isinstance(error, e.UnauthorizedError):
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body_of(error), status_code=status_of(error), headers=headers)


#: what a keyed command may answer because of its Idempotency-Key
KEY_REFUSALS = (e.InvalidIdempotencyKeyError, e.IdempotencyKeyReusedError, e.IdempotencyKeyInProgressError)


def responses(
    *refusals: type[e.CoraError], authenticated: bool = True, keyed: str | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` naming each refusal a route can answer with, by status.

    ``keyed`` is ``"optional"`` or ``"required"`` for routes behind the Idempotency-Key pattern.
    """
    names: dict[int, list[str]] = {}
    every: Iterable[type[e.CoraError]] = (
        *refusals,
        *(KEY_REFUSALS if keyed else ()),
        *((e.IdempotencyKeyRequiredError,) if keyed == "required" else ()),
        e.InvalidRequestError,
        e.RequestTooLargeError,
        *((e.UnauthorizedError, e.ForbiddenError, e.StoreError) if authenticated else (e.StoreError,)),
    )
    for refusal in every:
        name = refusal.__name__.removesuffix("Error")
        if name not in names.setdefault(status_of(refusal), []):
            names[status_of(refusal)].append(name)
    return {
        status: {"model": ErrorBody, "description": "One of: " + ", ".join(listed)}
        for status, listed in sorted(names.items())
    }


def _validation_name(request: Request, problem: dict[str, Any]) -> str:
    """The spec's name for a boundary refusal, when the body field declares one."""
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    return refusal_name(list(problem.get("loc", ())), problem.get("type"), model)


def refusal_name(location: list[Any], kind: str | None, model: Any) -> str:
    """The spec's name for a value refused at the boundary, on any surface.

    ``location`` is where the value was, as FastAPI says it: ``["body", field, ...]``,
    ``["query", name]`` or ``["header", name]``; ``model`` is the body model, whose fields may
    declare their refusal's name as ``x-error``.
    """
    if location and location[0] == "query":
        return "InvalidListQuery"
    if location[:2] == ["header", "Idempotency-Key"]:
        return "IdempotencyKeyRequired" if kind == "missing" else "InvalidIdempotencyKey"
    if not location or location[0] != "body":
        return "InvalidRequest"
    name = "InvalidRequest"
    for part in location[1:]:
        fields = getattr(model, "model_fields", None)
        if not isinstance(part, str) or not fields or part not in fields:
            if isinstance(part, int):
                continue  # an item of a list: the list's element model carries the names
            break
        info = fields[part]
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        name = extra.get("x-error", name)
        model = _element_model(info.annotation)
    if name == "InvalidRequest" and kind == INVALID_TEXT:
        return e.InvalidTextError.__name__.removesuffix("Error")
    return name


def _element_model(annotation: Any) -> Any:
    import typing

    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        for inner in typing.get_args(arg):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def install(app: FastAPI) -> None:
    """Register the handlers that give every failure the one error body."""

    @app.exception_handler(e.CoraError)
    async def refused(request: Request, error: e.CoraError) -> JSONResponse:
        return respond(error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(p) for p in problem.get("loc", ())[1:]) or "(body)",
                "problem": problem.get("msg", ""),
            }
            for problem in error.errors()
        ][:20]
        name = _validation_name(request, error.errors()[0]) if error.errors() else "InvalidRequest"
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        return JSONResponse({"error": name, "message": message, "problems": problems}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http(request: Request, error: HTTPException) -> JSONResponse:
        names = {404: "NotFound", 405: "MethodNotAllowed"}
        return JSONResponse(
            {"error": names.get(error.status_code, "HttpError"), "message": str(error.detail)},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected failure serving %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": "Internal", "message": "the server failed; the failure is in its log"}, status_code=500
        )
