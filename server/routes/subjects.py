"""Subjects: the samples, and whether one is on the stage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cora_bluesky.application.aggregates import SUBJECT
from cora_bluesky.application.codec import encode
from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.subject import SubjectState
from cora_bluesky.server.auth import operator, reader
from cora_bluesky.server.errors import responses
from cora_bluesky.server.routes.common import Filter, OptionalKey, Paging, PathId, create, page, transition
from cora_bluesky.application.messages import RegisterSubjectIn
from cora_bluesky.application.responses import PageOut

router = APIRouter(prefix="/subjects", tags=["subjects"])


@router.post(
    "",
    status_code=201,
    response_model=SubjectState,
    responses=responses(
        e.SubjectAlreadyExistsError,
        e.InvalidSubjectNameError,
        keyed="optional",
    ),
)
def register_subject(
    body: RegisterSubjectIn, request: Request, idempotency_key: OptionalKey = None, record: Record = operator
) -> Response:
    """Register a sample (Registered)."""
    return create(request, record, body, SUBJECT, "register_subject", Record.get_subject)


@router.get(
    "", response_model=PageOut[SubjectState], responses=responses(e.InvalidCursorError, e.InvalidListQueryError)
)
def list_subjects(paging: Paging, status: Filter = None, record: Record = reader) -> dict[str, Any]:
    return page(record.list_subjects(status=status, limit=paging.limit, cursor=paging.cursor))


@router.get("/{subject_id}", response_model=SubjectState, responses=responses(e.SubjectNotFoundError))
def get_subject(subject_id: PathId, record: Record = reader) -> dict[str, Any]:
    return encode(record.get_subject(subject_id))


for verb, method, refusal, doc in (
    ("mount", "mount_subject", e.SubjectCannotMountError, "Put the sample on the stage."),
    ("measured", "mark_subject_measured", e.SubjectCannotMarkMeasuredError, "Record that it has been measured."),
    ("unmount", "unmount_subject", e.SubjectCannotUnmountError, "Take the sample off the stage."),
):
    transition(
        router, f"/{{subject_id}}/{verb}", method, operator, SubjectState, (e.SubjectNotFoundError, refusal), doc
    )
