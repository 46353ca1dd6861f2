"""Every REST route of the record, generated from the slice table.

A route is a row of :mod:`cora_bluesky.application.slices` made concrete: its method and path,
its body, its listing filters, the Idempotency-Key header when the row asks for one, the role
check for the row's duty, and the refusals its OpenAPI entry names.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from cora_bluesky.application.record import Record
from cora_bluesky.application.slices import MODULES, PATH_ID, REQUIRED, Idempotency, Param, Slice
from cora_bluesky.server import idempotency
from cora_bluesky.server.auth import acting
from cora_bluesky.server.dispatch import perform
from cora_bluesky.server.errors import responses

_KEY = {"alias": idempotency.HEADER, **idempotency.KEY_CONSTRAINTS}
HEADERS = {
    Idempotency.REQUIRED: (
        Annotated[str, Header(description="a fresh UUID per command; a retry reuses it", **_KEY)],
        inspect.Parameter.empty,
    ),
    Idempotency.OPTIONAL: (Annotated[str | None, Header(description="makes a retried create safe", **_KEY)], None),
}


def _parameter(name: str, param: Param, where: Any) -> inspect.Parameter:
    default = inspect.Parameter.empty if param.default is REQUIRED else param.default
    annotation = Annotated[param.kind, where(**param.constraints)]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _parameters(row: Slice) -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [_parameter(name, PATH_ID, Path) for name in row.path_params]
    if row.request is not None:
        params.append(inspect.Parameter("body", keyword, annotation=row.request))
    params.extend(_parameter(name, param, Query) for name, param in row.query.items())
    if row.idempotency in HEADERS:
        kind, default = HEADERS[row.idempotency]
        params.append(inspect.Parameter("idempotency_key", keyword, annotation=kind, default=default))
    params.append(inspect.Parameter("request", keyword, annotation=Request))
    params.append(inspect.Parameter("record", keyword, annotation=Record, default=Depends(acting(row.duty))))
    return params


def endpoint(row: Slice) -> Any:
    """The request handler of ``row``, with the signature FastAPI reads its parameters from."""

    def handle(**params: Any) -> Response:
        request: Request = params.pop("request")
        record: Record = params.pop("record")
        params.pop("idempotency_key", None)  # declared for the OpenAPI document; read by Keyed
        body = params.pop("body", None)
        arguments = {**params, **(body.model_dump() if body is not None else {})}
        keyed = None
        if row.idempotency in HEADERS:
            keyed = idempotency.Keyed.of(request, record, required=row.idempotency is Idempotency.REQUIRED)
        called = (request.method, request.url.path)
        keys = request.app.state.keys
        status, payload, replayed = perform(
            record, row, arguments, keyed=keyed, keys=keys, called=called, body=body
        )
        if status == 204:
            return Response(status_code=204)
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return JSONResponse(payload, status_code=status, headers=headers)

    handle.__signature__ = inspect.Signature(_parameters(row))  # type: ignore[attr-defined]
    handle.__name__, handle.__doc__ = row.tool, row.doc
    return handle


def router(module: str) -> APIRouter:
    """The routes of one spec module's slices."""
    routes = APIRouter(tags=[module])
    for row in MODULES[module]:
        if row.path is None:
            continue  # a command of the Python API alone
        keyed = row.idempotency.value if row.idempotency in HEADERS else None
        routes.add_api_route(
            row.path,
            endpoint(row),
            methods=[row.method],
            status_code=row.status_code,
            response_model=row.response,
            responses=responses(*row.errors, keyed=keyed),
            name=row.tool,
            operation_id=row.tool,
        )
    return routes
