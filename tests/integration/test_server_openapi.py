"""The OpenAPI document lists every slice of the spec with the refusals it can answer."""

from __future__ import annotations

import pytest

from cora_bluesky.domain import errors as e
from cora_bluesky.server.errors import status_of

RUN_ID, PROC_ID = "/runs/{run_id}", "/procedures/{procedure_id}"
SLICES = {
    ("post", "/runs"): [
        "RunAlreadyExists",
        "InvalidRunName",
        "PlanNotFound",
        "PlanDeprecated",
        "SubjectNotMountable",
        "RunAssetDecommissioned",
        "RunCapabilitiesNotSatisfied",
        "RunRequiresActiveClearance",
        "RunClearanceCoverageMismatch",
        "InvalidRunExternalRef",
        "InvalidRunParameters",
        "InvalidPinnedCalibrations",
        "RunRequiresPermittedEnclosure",
        "RunEnclosureCoverageMismatch",
        "Unauthorized",
    ],
    ("post", f"{RUN_ID}/hold"): ["RunNotFound", "RunCannotHold", "Unauthorized"],
    ("post", f"{RUN_ID}/resume"): ["RunNotFound", "RunCannotResume", "Unauthorized"],
    ("post", f"{RUN_ID}/complete"): ["RunNotFound", "RunCannotComplete", "Unauthorized"],
    ("post", f"{RUN_ID}/abort"): ["RunNotFound", "RunCannotAbort", "InvalidRunAbortReason", "Unauthorized"],
    ("post", f"{RUN_ID}/stop"): ["RunNotFound", "RunCannotStop", "InvalidRunStopReason", "Unauthorized"],
    ("post", f"{RUN_ID}/truncate"): [
        "RunNotFound",
        "RunCannotTruncate",
        "InvalidRunTruncateReason",
        "InvalidRunInterruptedAt",
        "Unauthorized",
    ],
    ("post", f"{RUN_ID}/adjust"): [
        "RunNotFound",
        "RunCannotAdjust",
        "InvalidRunAdjustPatch",
        "InvalidRunAdjustSchema",
        "InvalidRunAdjustReason",
        "Unauthorized",
    ],
    ("post", f"{RUN_ID}/readings"): [
        "RunNotFound",
        "RunReadingLogbookClosed",
        "InvalidChannelName",
        "InvalidReadingValue",
        "InvalidSamplingProcedure",
        "Unauthorized",
    ],
    ("get", RUN_ID): ["RunNotFound"],
    ("get", "/runs"): [],
    ("post", "/procedures"): ["ProcedureAlreadyExists", "InvalidProcedureName", "InvalidProcedureKind", "Unauthorized"],
    ("post", f"{PROC_ID}/start"): [
        "ProcedureNotFound",
        "ProcedureCannotStart",
        "ProcedureAssetDecommissioned",
        "Unauthorized",
    ],
    ("post", f"{PROC_ID}/steps"): [
        "ProcedureNotFound",
        "ProcedureStepsLogbookClosed",
        "InvalidStepKind",
        "Unauthorized",
    ],
    ("post", f"{PROC_ID}/complete"): ["ProcedureNotFound", "ProcedureCannotComplete", "Unauthorized"],
    ("post", f"{PROC_ID}/abort"): [
        "ProcedureNotFound",
        "ProcedureCannotAbort",
        "InvalidProcedureAbortReason",
        "Unauthorized",
    ],
    ("post", f"{PROC_ID}/truncate"): [
        "ProcedureNotFound",
        "ProcedureCannotTruncate",
        "InvalidProcedureTruncateReason",
        "InvalidProcedureInterruptedAt",
        "Unauthorized",
    ],
    ("get", PROC_ID): ["ProcedureNotFound"],
    ("get", "/procedures"): [],
}


@pytest.fixture
def document(served):
    return served.client.get("/openapi.json").json()


@pytest.mark.parametrize("method, path", sorted(SLICES))
def test_each_slice_is_documented_with_its_errors(document, method, path):
    responses = document["paths"][path][method]["responses"]
    for name in SLICES[(method, path)]:
        status = str(status_of(getattr(e, f"{name}Error")("")))
        assert status in responses, (name, status)
        assert name in responses[status]["description"], (name, responses[status]["description"])
    assert "InvalidRequest" in responses["422"]["description"]


def test_idempotent_slices_document_their_key(document):
    for method, path in [("post", "/runs"), ("post", f"{RUN_ID}/adjust"), ("post", "/procedures")]:
        headers = {p["name"]: p for p in document["paths"][path][method]["parameters"] if p["in"] == "header"}
        assert headers["Idempotency-Key"]["required"] is True
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize(
    "family, status",
    [
        (e.UnauthorizedError, 401),
        (e.ForbiddenError, 403),
        (e.RunNotFoundError, 404),
        (e.RunCannotHoldError, 409),
        (e.InvalidRunNameError, 422),
        (e.RequestTooLargeError, 413),
        (e.StoreError, 503),
        (e.ConcurrencyError, 409),
        (e.UnreadableEventError, 500),
    ],
)
def test_refusals_map_by_family(family, status):
    assert status_of(family("m")) == status


def test_every_row_of_the_slice_table_is_documented_with_its_refusals_and_key(document):
    from cora_bluesky.application.slices import SERVED as ROWS
    from cora_bluesky.application.slices import Idempotency

    documented = 0
    for row in ROWS:
        operation = document["paths"][row.path][row.method.lower()]
        assert operation["operationId"] == row.tool
        described = " ".join(answer.get("description", "") for answer in operation["responses"].values())
        for refusal in row.errors:
            assert refusal.__name__.removesuffix("Error") in described, (row.tool, refusal)
        assert str(row.status_code) in operation["responses"], row.tool
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        if row.idempotency in (Idempotency.REQUIRED, Idempotency.OPTIONAL):
            assert headers["Idempotency-Key"]["required"] is (row.idempotency is Idempotency.REQUIRED), row.tool
        else:
            assert "Idempotency-Key" not in headers, row.tool
        documented += 1
    assert documented == len(ROWS) == sum(len(item) for item in document["paths"].values()) - 1  # and /health


def test_the_spec_slices_written_out_here_are_rows_of_the_table():
    from cora_bluesky.application.slices import SERVED as ROWS

    rows = {(row.method.lower(), row.path) for row in ROWS}
    assert set(SLICES) <= rows and len(SLICES) == 19  # the Run and Operation tables of the spec
