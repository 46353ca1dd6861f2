"""What every resource router shares: keyed creates, listing parameters, state encoding."""

from __future__ import annotations

import functools
import inspect
from typing import Annotated, Any, Callable

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, StringConstraints, TypeAdapter

from cora_bluesky.application.aggregates import Aggregate
from cora_bluesky.application.codec import encode
from cora_bluesky.application.ports import Page
from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.rules import ID_LENGTH
from cora_bluesky.server import idempotency
from cora_bluesky.server.errors import responses

#: A path id: anything longer or blank is not an id the record could hold.
PathId = Annotated[str, StringConstraints(min_length=1, max_length=ID_LENGTH)]
Filter = Annotated[str | None, Query(min_length=1, max_length=ID_LENGTH)]
_KEY = {"alias": "Idempotency-Key", "min_length": 1, "max_length": 200, "pattern": r"^[\x21-\x7e]+$"}
#: The Idempotency-Key header as the OpenAPI document shows it (the handler reads it itself).
RequiredKey = Annotated[str, Header(description="a fresh UUID per command; a retry reuses it", **_KEY)]
OptionalKey = Annotated[str | None, Header(description="makes a retried create safe", **_KEY)]


class Listing(BaseModel):
    """Page size and position of a listing, from the query string."""

    limit: int
    cursor: str | None


def listing(
    limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 50,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=500, description="`next` of the previous page")
    ] = None,
) -> Listing:
    return Listing(limit=limit, cursor=cursor)


Paging = Annotated[Listing, Depends(listing)]
CreatedFrom = Annotated[AwareDatetime | None, Query(description="created at or after")]
CreatedBefore = Annotated[AwareDatetime | None, Query(description="created before")]


@functools.cache
def _adapter(kind: type) -> TypeAdapter:
    return TypeAdapter(kind)


def served(state: Any) -> Any:
    """A record state as every route writes it, so that a create, its replay and a later read
    of the same state answer the same JSON."""
    return _adapter(type(state)).dump_python(state, mode="json")


def page(found: Page) -> dict[str, Any]:
    return {"items": [encode(item) for item in found.items], "next": found.next}


def create(
    request: Request,
    record: Record,
    body: BaseModel,
    aggregate: Aggregate,
    register: str,
    get: Callable[[Record, str], Any],
    *,
    fields: dict[str, Any] | None = None,
    required: bool = False,
    shape: Callable[[Any], Any] = served,
) -> Response:
    """A create behind the Idempotency-Key pattern, answering 201 with ``shape(state)``.

    Calls the Record's ``register`` method with the body's fields (or ``fields``) and
    ``<kind>_id``: ``None`` for a new id, or the id a keyed create derives from its key.
    ``get(record, aggregate_id)`` reads the aggregate back when an abandoned claim's write
    turns out to have landed.
    """
    keyed = idempotency.Keyed(request, record, required=required)
    chosen = keyed.derived_id()
    arguments = {**(body.model_dump() if fields is None else fields), f"{aggregate.kind}_id": chosen}

    def act(bound: Record) -> tuple[int, Any]:
        return 201, shape(getattr(bound, register)(**arguments))

    def replay(bound: Record) -> tuple[int, Any]:
        return 201, shape(get(bound, chosen))

    return idempotency.run(
        request, record, keyed, body, act, stream_id=aggregate.stream_id(chosen or ""), replay=replay
    )


def transition(
    router: APIRouter,
    path: str,
    verb: str,
    acting: Any,
    response_model: Any,
    refusals: tuple[type[e.CoraError], ...],
    doc: str,
    *,
    body: type[BaseModel] | None = None,
    status_code: int = 200,
) -> None:
    """Route ``POST path`` to the Record's ``verb`` on the one id the path names.

    With a ``body`` model, its fields are the command's keyword arguments (a reason, a time).
    Answers with the new state, or with nothing when ``status_code`` is 204.
    """
    id_name = path[path.index("{") + 1 : path.index("}")]

    def endpoint(**params: Any) -> Any:
        arguments = params["body"].model_dump() if body is not None else {}
        state = getattr(params["record"], verb)(params[id_name], **arguments)
        return Response(status_code=204) if status_code == 204 else encode(state)

    keyword = inspect.Parameter.KEYWORD_ONLY
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(id_name, keyword, annotation=PathId),
            *([inspect.Parameter("body", keyword, annotation=body)] if body is not None else []),
            inspect.Parameter("record", keyword, annotation=Record, default=acting),
        ]
    )
    endpoint.__name__, endpoint.__doc__ = verb, doc
    router.post(path, response_model=response_model, status_code=status_code, responses=responses(*refusals))(endpoint)


__all__ = [
    "CreatedBefore",
    "CreatedFrom",
    "Filter",
    "OptionalKey",
    "Paging",
    "PathId",
    "RequiredKey",
    "create",
    "page",
    "transition",
]
