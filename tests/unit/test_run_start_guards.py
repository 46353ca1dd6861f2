"""Every start_run guard of the Run module refuses with its own named error."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from support import NOW, PLAN, SUBJECT, TOMO_SCHEMA, asset, clearance, enclosure, start_command, start_context

from cora_bluesky.application.schemas import parameter_check
from cora_bluesky.domain import errors as e
from cora_bluesky.domain import run
from cora_bluesky.domain.calibration import CalibrationSource, CalibrationState
from cora_bluesky.domain.clearance import ClearanceStatus
from cora_bluesky.domain.equipment import AssetStatus
from cora_bluesky.domain.gates import Permit
from cora_bluesky.domain.recipe import PlanStatus
from cora_bluesky.domain.subject import SubjectStatus


def start(command=None, **context):
    return run.decide(command or start_command(), None, start_context(**context))


def test_happy_start_resolves_parameters_and_pins():
    (event,) = start(start_command(override_parameters={"angles": 90}), active_calibrations=("cal-1",))
    assert isinstance(event, run.RunStarted)
    assert event.effective_parameters == {"exposure": 0.1, "angles": 90}
    assert event.override_parameters == {"angles": 90}
    assert event.pinned_calibrations == ("cal-1",)
    assert event.asset_ids == ("a1",)
    state = run.evolve(None, event)
    assert state.status is run.RunStatus.RUNNING and state.adjustment_count == 0


def test_overrides_merge_as_rfc7396_patch():
    (event,) = start(start_command(override_parameters={"exposure": None, "mode": {"a": 1}}))
    assert event.effective_parameters == {"mode": {"a": 1}}


def test_already_exists():
    existing = run.evolve(None, start()[0])
    with pytest.raises(e.RunAlreadyExistsError):
        run.decide(start_command(), existing, start_context())


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, 42])
def test_invalid_name(name):
    with pytest.raises(e.InvalidRunNameError):
        start(start_command(name=name))


def test_name_is_trimmed():
    assert start(start_command(name="  scan 1 "))[0].name == "scan 1"


def test_plan_not_found():
    with pytest.raises(e.PlanNotFoundError):
        start(plan=None)


def test_plan_deprecated():
    with pytest.raises(e.PlanDeprecatedError):
        start(plan=dataclasses.replace(PLAN, status=PlanStatus.DEPRECATED))


@pytest.mark.parametrize("status", [SubjectStatus.REGISTERED, SubjectStatus.UNMOUNTED])
def test_subject_not_mountable(status):
    with pytest.raises(e.SubjectNotMountableError):
        start(subject=dataclasses.replace(SUBJECT, status=status))


@pytest.mark.parametrize("status", [SubjectStatus.MOUNTED, SubjectStatus.MEASURED])
def test_subject_mounted_or_measured_passes(status):
    assert start(subject=dataclasses.replace(SUBJECT, status=status))


def test_unknown_subject():
    with pytest.raises(e.SubjectNotFoundError):
        start(subject=None)


def test_run_without_subject_is_allowed_when_an_asset_clearance_covers_it():
    # dark and flat fields have no subject
    (event,) = start(start_command(subject_id=None), clearances=(clearance(assets=("a1",)),))
    assert event.subject_id is None


def test_asset_decommissioned():
    with pytest.raises(e.RunAssetDecommissionedError) as refused:
        start(assets={"a1": asset("a1", hutch="B", status=AssetStatus.DECOMMISSIONED)})
    assert refused.value.data["assets"] == ["a1"]


def test_unknown_extra_asset():
    with pytest.raises(e.AssetNotFoundError):
        start(start_command(asset_ids=("ghost",)))
    with pytest.raises(e.InvalidAssetIdsError):
        start(start_command(asset_ids=("ghost", "ghost")))


def test_capabilities_re_validated_from_current_assets():
    with pytest.raises(e.RunCapabilitiesNotSatisfiedError) as refused:
        start(assets={"a1": asset("a1", family="camera", hutch="B")})
    assert refused.value.data["missing_families"] == ["stage"]


def test_parameters_validated_against_method_schema():
    check = parameter_check(TOMO_SCHEMA)
    with pytest.raises(e.InvalidRunParametersError) as refused:
        start(start_command(override_parameters={"exposure": 50}), parameter_check=check)
    assert "exposure" in refused.value.data["violations"][0]


@pytest.mark.parametrize("overrides", [{"x": float("nan")}, {"x": float("inf")}, {1: 2}, "exposure=1", {"x": object()}])
def test_parameters_must_be_finite_json(overrides):
    with pytest.raises(e.InvalidRunParametersError):
        start(start_command(override_parameters=overrides))


def test_parameters_trusted_when_method_declares_no_schema():
    (event,) = start(start_command(override_parameters={"exposure": 50}), parameter_check=None)
    assert event.effective_parameters["exposure"] == 50


def test_explicit_pins_must_be_known():
    revision = CalibrationState("cal-1", "a1", "rotation_center", 1.0, "px", CalibrationSource.asserted("x"), NOW, NOW)
    (event,) = start(start_command(pinned_calibrations=("cal-1",)), known_calibrations={"cal-1": revision})
    assert event.pinned_calibrations == ("cal-1",)
    with pytest.raises(e.InvalidPinnedCalibrationsError):
        start(start_command(pinned_calibrations=("cal-2",)), known_calibrations={"cal-1": revision})
    with pytest.raises(e.InvalidPinnedCalibrationsError):
        start(start_command(pinned_calibrations=("cal-1", "cal-1")), known_calibrations={"cal-1": revision})


@pytest.mark.parametrize("refs", [[("", "x")], [("proposal",)], ["proposal:1"], [("p", "x" * 201)]])
def test_invalid_external_ref(refs):
    with pytest.raises(e.InvalidRunExternalRefError):
        start(start_command(external_refs=tuple(refs)))


def test_external_refs_kept():
    (event,) = start(start_command(external_refs=(("proposal", "271828"), {"scheme": "esaf", "id": "9"})))
    assert [(r.scheme, r.id) for r in event.external_refs] == [("proposal", "271828"), ("esaf", "9")]


def test_no_clearance_references_the_scope():
    with pytest.raises(e.RunRequiresActiveClearanceError):
        start(clearances=(clearance(subjects=("other",)),))


@pytest.mark.parametrize(
    "status",
    [s for s in ClearanceStatus if s is not ClearanceStatus.ACTIVE],
)
def test_referencing_but_not_active_carries_the_count(status):
    with pytest.raises(e.RunClearanceCoverageMismatchError) as refused:
        start(clearances=(clearance("c1", status, subjects=("s1",)), clearance("c2", status, assets=("a1",))))
    assert refused.value.data["count"] == 2


def test_active_clearance_outside_its_window_is_not_in_force():
    expired = clearance(subjects=("s1",), valid_until=NOW - timedelta(seconds=1))
    early = clearance("c2", subjects=("s1",), valid_from=NOW + timedelta(hours=1))
    with pytest.raises(e.RunClearanceCoverageMismatchError) as refused:
        start(clearances=(expired, early))
    assert refused.value.data["count"] == 2


@pytest.mark.parametrize("binding", [{"runs": ("r1",)}, {"subjects": ("s1",)}, {"assets": ("a1",)}])
def test_any_binding_in_scope_covers(binding):
    assert start(clearances=(clearance(**binding),))


def test_every_hutch_failing():
    with pytest.raises(e.RunRequiresPermittedEnclosureError) as refused:
        start(permits={"B": Permit("B", False, "not searched")})
    assert refused.value.data["hutches"] == ["B"]


def test_some_hutches_failing_are_named():
    assets = {"a1": asset("a1", hutch="B"), "a2": asset("a2", family="mono", hutch="A")}
    with pytest.raises(e.RunEnclosureCoverageMismatchError) as refused:
        start(
            start_command(asset_ids=("a2",)),
            assets=assets,
            enclosures={"A": enclosure("A"), "B": enclosure("B")},
            permits={"A": Permit("A", True), "B": Permit("B", False)},
        )
    assert refused.value.data["hutches"] == ["B"]
    assert refused.value.data["permitted"] == ["A"]


def test_hutch_declared_up_the_chain_is_in_scope():
    assets = {"a1": asset("a1", parent="table"), "table": asset("table", family="table", hutch="B")}
    with pytest.raises(e.RunRequiresPermittedEnclosureError):
        start(assets=assets, permits={})


def test_empty_scope_permits():
    assert start(assets={"a1": asset("a1")}, enclosures={}, permits={})


def test_missing_permit_reading_fails_closed():
    with pytest.raises(e.RunRequiresPermittedEnclosureError):
        start(permits={})
