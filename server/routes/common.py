"""What every resource router shares: keyed creates, listing parameters, state encoding."""

from __future__ import annotations

from typing import Annotated, Any, Callable

from fastapi import Depends, Header, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, StringConstraints

from cora_bluesky.application.aggregates import Aggregate
from cora_bluesky.application.codec import encode
from cora_bluesky.application.ports import Page
from cora_bluesky.application.record import Record
from cora_bluesky.server import idempotency
from cora_bluesky.server.schemas import Id

#: A path id: anything longer or blank is not an id the record could hold.
PathId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Filter = Annotated[str | None, Query(min_length=1, max_length=100)]
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
    cursor: Annotated[str | None, Query(min_length=1, max_length=500, description="`next` of the previous page")] = None,
) -> Listing:
    return Listing(limit=limit, cursor=cursor)


Paging = Annotated[Listing, Depends(listing)]
CreatedFrom = Annotated[AwareDatetime | None, Query(description="created at or after")]
CreatedBefore = Annotated[AwareDatetime | None, Query(description="created before")]


def page(found: Page) -> dict[str, Any]:
    return {"items": [encode(item) for item in found.items], "next": found.next}


def create(
    request: Request,
    record: Record,
    body: BaseModel,
    aggregate: Aggregate,
    make: Callable[[Record, str | None], Any],
    get: Callable[[Record, str], Any],
    *,
    required: bool = False,
    shape: Callable[[Any], Any] = encode,
) -> Response:
    """A create behind the Idempotency-Key pattern, answering 201 with ``shape(state)``.

    ``make(record, aggregate_id)`` registers the aggregate under the given id (``None``: a new
    one); a keyed create gets an id derived from its key. ``get(record, aggregate_id)`` reads
    it back when an abandoned claim's write turns out to have landed.
    """
    keyed = idempotency.Keyed(request, record, required=required)
    chosen = keyed.derived_id()

    def act(bound: Record) -> tuple[int, Any]:
        return 201, shape(make(bound, chosen))

    def replay(bound: Record) -> tuple[int, Any]:
        return 201, shape(get(bound, chosen))

    return idempotency.run(
        request, record, keyed, body, act, stream_id=aggregate.stream_id(chosen or ""), replay=replay
    )


__all__ = [
    "CreatedBefore", "CreatedFrom", "Filter", "Id", "OptionalKey", "Paging", "PathId", "RequiredKey", "create", "page"
]
