"""Procedures: register, start on live equipment, log steps, close."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cora_bluesky.application.aggregates import PROCEDURE
from cora_bluesky.application.codec import encode
from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.procedure import ProcedureState
from cora_bluesky.server.auth import operator, reader
from cora_bluesky.server.errors import responses
from cora_bluesky.server.routes.common import (
    CreatedBefore,
    CreatedFrom,
    Filter,
    Paging,
    PathId,
    RequiredKey,
    create,
    page,
    transition,
)
from cora_bluesky.application.messages import AbortProcedureIn, RegisterProcedureIn, StepsIn, TruncateProcedureIn
from cora_bluesky.application.responses import EventCountOut, PageOut, ProcedureRegisteredOut, StepOut

router = APIRouter(prefix="/procedures", tags=["procedures"])


@router.post(
    "",
    status_code=201,
    response_model=ProcedureRegisteredOut,
    responses=responses(
        e.ProcedureAlreadyExistsError, e.InvalidProcedureNameError, e.InvalidProcedureKindError, keyed="required"
    ),
)
def register_procedure(
    body: RegisterProcedureIn, request: Request, idempotency_key: RequiredKey, record: Record = operator
) -> Response:
    """Register a procedure (Defined); ``parent_run_id`` makes it a phase of that run."""
    return create(
        request,
        record,
        body,
        PROCEDURE,
        "register_procedure",
        Record.get_procedure,
        required=True,
        shape=lambda state: {"procedure_id": state.id},
    )


@router.get(
    "", response_model=PageOut[ProcedureState], responses=responses(e.InvalidCursorError, e.InvalidListQueryError)
)
def list_procedures(
    paging: Paging,
    status: Filter = None,
    created_from: CreatedFrom = None,
    created_before: CreatedBefore = None,
    record: Record = reader,
) -> dict[str, Any]:
    """Procedures, newest registration first."""
    return page(
        record.list_procedures(
            status=status,
            created_from=created_from,
            created_before=created_before,
            limit=paging.limit,
            cursor=paging.cursor,
        )
    )


@router.get("/{procedure_id}", response_model=ProcedureState, responses=responses(e.ProcedureNotFoundError))
def get_procedure(procedure_id: PathId, record: Record = reader) -> dict[str, Any]:
    return encode(record.get_procedure(procedure_id))


for verb, body, refusals, doc in (
    (
        "start",
        None,
        (e.ProcedureCannotStartError, e.ProcedureAssetDecommissionedError),
        "Start a Defined procedure on equipment that is still in service.",
    ),
    ("complete", None, (e.ProcedureCannotCompleteError,), "Complete a Running procedure."),
    (
        "abort",
        AbortProcedureIn,
        (e.ProcedureCannotAbortError, e.InvalidProcedureAbortReasonError),
        "Abort a Running procedure, with a reason.",
    ),
    (
        "truncate",
        TruncateProcedureIn,
        (e.ProcedureCannotTruncateError, e.InvalidProcedureTruncateReasonError, e.InvalidProcedureInterruptedAtError),
        "Close a procedure that died unwatched.",
    ),
):
    transition(
        router,
        f"/{{procedure_id}}/{verb}",
        f"{verb}_procedure",
        operator,
        None,
        (e.ProcedureNotFoundError, *refusals),
        doc,
        body=body,
        status_code=204,
    )


@router.post(
    "/{procedure_id}/steps",
    response_model=EventCountOut,
    responses=responses(
        e.ProcedureNotFoundError,
        e.ProcedureStepsLogbookClosedError,
        e.InvalidStepKindError,
        e.InvalidStepPayloadError,
        e.InvalidStepSampledAtError,
        e.InvalidEntryIdError,
    ),
)
def append_procedure_step(procedure_id: PathId, body: StepsIn, record: Record = operator) -> dict[str, int]:
    """Append steps; an ``event_id`` already recorded is skipped silently."""
    entries = [entry.model_dump() for entry in body.entries]
    return {"event_count": record.append_procedure_step(procedure_id, entries)}


@router.get("/{procedure_id}/steps", response_model=list[StepOut], responses=responses(e.ProcedureNotFoundError))
def list_procedure_steps(
    procedure_id: PathId, limit: int = Query(1000, ge=1, le=10000), record: Record = reader
) -> list[dict[str, Any]]:
    """The procedure's steps in ``sampled_at`` order."""
    return record.list_procedure_steps(procedure_id, limit=limit)
