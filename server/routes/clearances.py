"""Clearances: file a safety form, walk it through review, and the seeded form types."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cora_bluesky.application.aggregates import CLEARANCE
from cora_bluesky.application.codec import encode
from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.clearance import ClearanceState
from cora_bluesky.server.auth import filer, reader, reviewer
from cora_bluesky.server.errors import responses
from cora_bluesky.server.routes.common import Filter, OptionalKey, Paging, PathId, create, page
from cora_bluesky.server.schemas import (
    BindClearanceIn,
    ClearanceReasonIn,
    FormTypeOut,
    PageOut,
    RegisterClearanceIn,
    SupersedeClearanceIn,
)

router = APIRouter(tags=["clearances"])


@router.get("/clearance-form-types", response_model=list[FormTypeOut], responses=responses())
def list_clearance_form_types(record: Record = reader) -> list[dict[str, str]]:
    """The facility safety form types this record knows."""
    return [encode(form) for form in record.list_clearance_form_types()]


@router.post(
    "/clearances",
    status_code=201,
    response_model=ClearanceState,
    responses=responses(
        e.ClearanceAlreadyExistsError, e.ClearanceFormTypeNotFoundError, e.InvalidClearanceTitleError,
        e.InvalidClearanceWindowError, e.InvalidClearanceBindingsError, e.InvalidClearanceHazardsError,
        e.InvalidIdempotencyKeyError, e.IdempotencyKeyReusedError, e.IdempotencyKeyInProgressError,
    ),
)
def register_clearance(
    body: RegisterClearanceIn, request: Request, idempotency_key: OptionalKey = None, record: Record = filer
) -> Response:
    """File a safety form (Defined), bound to runs, subjects or assets."""
    fields = body.model_dump()

    def make(bound: Record, clearance_id: str | None) -> ClearanceState:
        return bound.register_clearance(**fields, clearance_id=clearance_id)

    return create(request, record, body, CLEARANCE, make, Record.get_clearance)


@router.get(
    "/clearances", response_model=PageOut[ClearanceState], responses=responses(e.InvalidCursorError, e.InvalidListQueryError)
)
def list_clearances(paging: Paging, status: Filter = None, record: Record = reader) -> dict[str, Any]:
    return page(record.list_clearances(status=status, limit=paging.limit, cursor=paging.cursor))


@router.get("/clearances/{clearance_id}", response_model=ClearanceState, responses=responses(e.ClearanceNotFoundError))
def get_clearance(clearance_id: PathId, record: Record = reader) -> dict[str, Any]:
    return encode(record.get_clearance(clearance_id))


@router.post(
    "/clearances/{clearance_id}/bind",
    response_model=ClearanceState,
    responses=responses(e.ClearanceNotFoundError, e.ClearanceCannotBindError, e.InvalidClearanceBindingsError),
)
def bind_clearance(clearance_id: PathId, body: BindClearanceIn, record: Record = filer) -> dict[str, Any]:
    """Add scope to a clearance that has not been submitted yet."""
    return encode(record.bind_clearance(clearance_id, **body.model_dump()))


@router.post(
    "/clearances/{clearance_id}/submit",
    response_model=ClearanceState,
    responses=responses(e.ClearanceNotFoundError, e.ClearanceCannotSubmitError),
)
def submit_clearance(clearance_id: PathId, record: Record = filer) -> dict[str, Any]:
    """Defined -> Submitted: hand the form to its reviewers."""
    return encode(record.submit_clearance(clearance_id))


def _review(verb: str, method: str, refusal: type[e.CoraError], doc: str) -> None:
    def endpoint(clearance_id: PathId, record: Record = reviewer) -> dict[str, Any]:
        return encode(getattr(record, method)(clearance_id))

    endpoint.__name__ = method
    endpoint.__doc__ = doc
    router.post(
        f"/clearances/{{clearance_id}}/{verb}",
        response_model=ClearanceState,
        responses=responses(e.ClearanceNotFoundError, refusal),
    )(endpoint)


_review("start-review", "start_clearance_review", e.ClearanceCannotStartReviewError, "Submitted -> UnderReview.")
_review("approve", "approve_clearance", e.ClearanceCannotApproveError, "UnderReview -> Approved (not yet in force).")
_review("activate", "activate_clearance", e.ClearanceCannotActivateError, "Approved -> Active: in force.")
_review("expire", "expire_clearance", e.ClearanceCannotExpireError, "Approved or Active -> Expired.")


@router.post(
    "/clearances/{clearance_id}/reject",
    response_model=ClearanceState,
    responses=responses(e.ClearanceNotFoundError, e.ClearanceCannotRejectError, e.InvalidClearanceReasonError),
)
def reject_clearance(clearance_id: PathId, body: ClearanceReasonIn, record: Record = reviewer) -> dict[str, Any]:
    """Submitted or UnderReview -> Rejected, with the reviewer's reason."""
    return encode(record.reject_clearance(clearance_id, reason=body.reason))


@router.post(
    "/clearances/{clearance_id}/supersede",
    response_model=ClearanceState,
    responses=responses(e.ClearanceNotFoundError, e.ClearanceCannotSupersedeError, e.InvalidClearanceReasonError),
)
def supersede_clearance(clearance_id: PathId, body: SupersedeClearanceIn, record: Record = reviewer) -> dict[str, Any]:
    """Replace a clearance with an amended one."""
    return encode(record.supersede_clearance(clearance_id, reason=body.reason, superseded_by=body.superseded_by))
