"""Runs: start behind both gates, steer, hold, end, readings, and the listing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cora_bluesky.application.aggregates import RUN
from cora_bluesky.application.codec import encode
from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.run import RunState
from cora_bluesky.server import idempotency
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
    served,
    transition,
)
from cora_bluesky.server.schemas import (
    AbortRunIn,
    AdjustRunIn,
    EventCountOut,
    PageOut,
    ReadingIn,
    ReadingOut,
    RunStartedOut,
    StartRunIn,
    StopRunIn,
    TruncateRunIn,
)

router = APIRouter(prefix="/runs", tags=["runs"])

START_REFUSALS = (
    e.RunAlreadyExistsError,
    e.InvalidRunNameError,
    e.PlanNotFoundError,
    e.PlanDeprecatedError,
    e.SubjectNotFoundError,
    e.SubjectNotMountableError,
    e.RunAssetDecommissionedError,
    e.RunCapabilitiesNotSatisfiedError,
    e.RunRequiresActiveClearanceError,
    e.RunClearanceCoverageMismatchError,
    e.RunRequiresPermittedEnclosureError,
    e.RunEnclosureCoverageMismatchError,
    e.InvalidRunExternalRefError,
    e.InvalidRunParametersError,
    e.InvalidPinnedCalibrationsError,
    e.InvalidRunRaidError,
    e.InvalidRunTriggeredByError,
    e.InvalidRunCampaignIdError,
)


def _started(run: RunState) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "status": run.status.value,
        "effective_parameters": encode(run.effective_parameters),
        "pinned_calibrations": list(run.pinned_calibrations),
    }


@router.post("", status_code=201, response_model=RunStartedOut, responses=responses(*START_REFUSALS, keyed="required"))
def start_run(body: StartRunIn, request: Request, idempotency_key: RequiredKey, record: Record = operator) -> Response:
    """Start a run; refused unless an Active clearance covers it and its hutches are permitted."""
    return create(request, record, body, RUN, "start_run", Record.get_run, required=True, shape=_started)


@router.get("", response_model=PageOut[RunState], responses=responses(e.InvalidCursorError, e.InvalidListQueryError))
def list_runs(
    paging: Paging,
    status: Filter = None,
    plan_id: Filter = None,
    subject_id: Filter = None,
    created_from: CreatedFrom = None,
    created_before: CreatedBefore = None,
    record: Record = reader,
) -> dict[str, Any]:
    """Runs, newest first; follow ``next`` for older ones."""
    return page(
        record.list_runs(
            status=status,
            plan_id=plan_id,
            subject_id=subject_id,
            created_from=created_from,
            created_before=created_before,
            limit=paging.limit,
            cursor=paging.cursor,
        )
    )


@router.get("/{run_id}", response_model=RunState, responses=responses(e.RunNotFoundError))
def get_run(run_id: PathId, record: Record = reader) -> dict[str, Any]:
    return encode(record.get_run(run_id))


for verb, refusal, doc in (
    ("hold", e.RunCannotHoldError, "Hold a Running run (no reason needed)."),
    ("resume", e.RunCannotResumeError, "Resume a Held run."),
    ("complete", e.RunCannotCompleteError, "Complete a Running run."),
):
    transition(router, f"/{{run_id}}/{verb}", f"{verb}_run", operator, RunState, (e.RunNotFoundError, refusal), doc)


for verb, body, refusals, doc in (
    (
        "abort",
        AbortRunIn,
        (e.RunCannotAbortError, e.InvalidRunAbortReasonError),
        "Abort a Running or Held run: something went wrong.",
    ),
    (
        "stop",
        StopRunIn,
        (e.RunCannotStopError, e.InvalidRunStopReasonError),
        "Stop a Running or Held run early, on purpose.",
    ),
    (
        "truncate",
        TruncateRunIn,
        (e.RunCannotTruncateError, e.InvalidRunTruncateReasonError, e.InvalidRunInterruptedAtError),
        "Close a run that died unwatched, with the best guess of when it stopped.",
    ),
):
    transition(
        router,
        f"/{{run_id}}/{verb}",
        f"{verb}_run",
        operator,
        RunState,
        (e.RunNotFoundError, *refusals),
        doc,
        body=body,
    )


@router.post(
    "/{run_id}/adjust",
    response_model=RunState,
    responses=responses(
        e.RunNotFoundError,
        e.RunCannotAdjustError,
        e.InvalidRunAdjustPatchError,
        e.InvalidRunAdjustSchemaError,
        e.InvalidRunAdjustReasonError,
        e.InvalidRunDecisionIdError,
        keyed="required",
    ),
)
def adjust_run(
    run_id: PathId, body: AdjustRunIn, request: Request, idempotency_key: RequiredKey, record: Record = operator
) -> Response:
    """Steer a run mid-flight with an RFC 7396 merge patch and a reason."""
    keyed = idempotency.Keyed(request, record, required=True)

    def act(bound: Record) -> tuple[int, Any]:
        return 200, served(bound.adjust_run(run_id, **body.model_dump()))

    def replay(bound: Record) -> tuple[int, Any]:
        return 200, served(bound.get_run(run_id))

    return idempotency.run(request, record, keyed, body, act, kind=RUN.kind, aggregate_id=run_id, replay=replay)


@router.post(
    "/{run_id}/readings",
    response_model=EventCountOut,
    responses=responses(
        e.RunNotFoundError,
        e.RunReadingLogbookClosedError,
        e.InvalidChannelNameError,
        e.InvalidReadingValueError,
        e.InvalidSamplingProcedureError,
        e.InvalidReadingUnitsError,
        e.InvalidReadingSampledAtError,
        e.InvalidEntryIdError,
    ),
)
def append_run_reading(run_id: PathId, body: ReadingIn, record: Record = operator) -> dict[str, int]:
    """Append one reading; a repeated ``event_id`` is a no-op (``event_count`` 0)."""
    return {"event_count": record.append_run_reading(run_id, **body.model_dump())}


@router.get("/{run_id}/readings", response_model=list[ReadingOut], responses=responses(e.RunNotFoundError))
def list_run_readings(
    run_id: PathId, limit: int = Query(1000, ge=1, le=10000), record: Record = reader
) -> list[dict[str, Any]]:
    """The run's readings in ``sampled_at`` order, with their three timestamps."""
    return record.list_run_readings(run_id, limit=limit)
