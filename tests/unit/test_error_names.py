"""Every error the spec names exists under its name, in the family an edge maps it by."""

from __future__ import annotations

import pytest

from cora_bluesky.domain import errors as e

NOT_FOUND = ["RunNotFound", "ProcedureNotFound", "PlanNotFound"]
CONFLICT = [
    "RunAlreadyExists", "PlanDeprecated", "SubjectNotMountable", "RunAssetDecommissioned",
    "RunCapabilitiesNotSatisfied", "RunRequiresActiveClearance", "RunClearanceCoverageMismatch",
    "RunRequiresPermittedEnclosure", "RunEnclosureCoverageMismatch",
    *(f"RunCannot{verb}" for verb in ("Hold", "Resume", "Complete", "Abort", "Stop", "Truncate", "Adjust")),
    "RunReadingLogbookClosed", "ProcedureAlreadyExists", "ProcedureCannotStart",
    "ProcedureAssetDecommissioned", "ProcedureStepsLogbookClosed",
    *(f"ProcedureCannot{verb}" for verb in ("Complete", "Abort", "Truncate")),
]
INVALID = [
    "InvalidRunName", "InvalidRunExternalRef", "InvalidRunParameters", "InvalidPinnedCalibrations",
    "InvalidRunAbortReason", "InvalidRunStopReason", "InvalidRunTruncateReason", "InvalidRunInterruptedAt",
    "InvalidRunAdjustPatch", "InvalidRunAdjustSchema", "InvalidRunAdjustReason", "InvalidChannelName",
    "InvalidReadingValue", "InvalidSamplingProcedure", "InvalidProcedureName", "InvalidProcedureKind",
    "InvalidStepKind", "InvalidProcedureAbortReason", "InvalidProcedureTruncateReason",
    "InvalidProcedureInterruptedAt",
]


@pytest.mark.parametrize(
    "name, family",
    [(n, e.NotFoundError) for n in NOT_FOUND] + [(n, e.ConflictError) for n in CONFLICT]
    + [(n, e.InvalidInputError) for n in INVALID],
)
def test_spec_error_exists_with_its_family(name, family):
    cls = getattr(e, f"{name}Error")
    assert issubclass(cls, family)
    refusal = cls("message", hutches=["2-BM-B"])
    assert refusal.name == name and refusal.data == {"hutches": ["2-BM-B"]}


def test_errors_survive_pickling():
    import pickle

    refusal = pickle.loads(pickle.dumps(e.RunEnclosureCoverageMismatchError("m", hutches=["2-BM-B"])))
    assert type(refusal) is e.RunEnclosureCoverageMismatchError and refusal.data["hutches"] == ["2-BM-B"]


def test_the_text_of_a_refusal_starts_with_its_spec_name():
    refusal = e.RunRequiresPermittedEnclosureError("no hutch is permitted", hutches=["2-BM-B"])
    assert str(refusal) == "RunRequiresPermittedEnclosure: no hutch is permitted"
    assert refusal.message == "no hutch is permitted"
