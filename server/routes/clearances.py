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
from cora_bluesky.server.routes.common import Filter, OptionalKey, Paging, PathId, create, page, transition
from cora_bluesky.application.messages import BindClearanceIn, ClearanceReasonIn, RegisterClearanceIn, SupersedeClearanceIn
from cora_bluesky.application.responses import FormTypeOut, PageOut

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
        e.ClearanceAlreadyExistsError,
        e.ClearanceFormTypeNotFoundError,
        e.InvalidClearanceTitleError,
        e.InvalidClearanceWindowError,
        e.InvalidClearanceBindingsError,
        e.InvalidClearanceHazardsError,
        keyed="optional",
    ),
)
def register_clearance(
    body: RegisterClearanceIn, request: Request, idempotency_key: OptionalKey = None, record: Record = filer
) -> Response:
    """File a safety form (Defined), bound to runs, subjects or assets."""
    return create(request, record, body, CLEARANCE, "register_clearance", Record.get_clearance)


@router.get(
    "/clearances",
    response_model=PageOut[ClearanceState],
    responses=responses(e.InvalidCursorError, e.InvalidListQueryError),
)
def list_clearances(paging: Paging, status: Filter = None, record: Record = reader) -> dict[str, Any]:
    return page(record.list_clearances(status=status, limit=paging.limit, cursor=paging.cursor))


@router.get("/clearances/{clearance_id}", response_model=ClearanceState, responses=responses(e.ClearanceNotFoundError))
def get_clearance(clearance_id: PathId, record: Record = reader) -> dict[str, Any]:
    return encode(record.get_clearance(clearance_id))


for verb, method, acting, body, refusals, doc in (
    (
        "bind",
        "bind_clearance",
        filer,
        BindClearanceIn,
        (e.ClearanceCannotBindError, e.InvalidClearanceBindingsError),
        "Add scope to a clearance that has not been submitted yet.",
    ),
    (
        "submit",
        "submit_clearance",
        filer,
        None,
        (e.ClearanceCannotSubmitError,),
        "Defined -> Submitted, to its reviewers.",
    ),
    (
        "start-review",
        "start_clearance_review",
        reviewer,
        None,
        (e.ClearanceCannotStartReviewError,),
        "Submitted -> UnderReview.",
    ),
    (
        "approve",
        "approve_clearance",
        reviewer,
        None,
        (e.ClearanceCannotApproveError,),
        "UnderReview -> Approved, not in force.",
    ),
    (
        "activate",
        "activate_clearance",
        reviewer,
        None,
        (e.ClearanceCannotActivateError,),
        "Approved -> Active: in force.",
    ),
    ("expire", "expire_clearance", reviewer, None, (e.ClearanceCannotExpireError,), "Approved or Active -> Expired."),
    (
        "reject",
        "reject_clearance",
        reviewer,
        ClearanceReasonIn,
        (e.ClearanceCannotRejectError, e.InvalidClearanceReasonError),
        "Submitted or UnderReview -> Rejected, with the reviewer's reason.",
    ),
    (
        "supersede",
        "supersede_clearance",
        reviewer,
        SupersedeClearanceIn,
        (e.ClearanceCannotSupersedeError, e.InvalidClearanceReasonError),
        "Replace a clearance with an amended one.",
    ),
):
    transition(
        router,
        f"/clearances/{{clearance_id}}/{verb}",
        method,
        acting,
        ClearanceState,
        (e.ClearanceNotFoundError, *refusals),
        doc,
        body=body,
    )
