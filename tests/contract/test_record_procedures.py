"""Procedure slices, clearance review and equipment verbs through the Record on every store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import SAFETY_OFFICER, build_beamline

from cora_bluesky import CalibrationSource
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.clearance import ClearanceStatus
from cora_bluesky.domain.procedure import ProcedureStatus


@pytest.fixture
def ids(record):
    return build_beamline(record)


def test_procedure_slices_and_calibration_of_record(record, ids, clock):
    run = record.start_run(name="tomo", plan_id=ids.plan, subject_id=ids.subject)
    proc = record.register_procedure(name="find rotation center", kind="alignment",
                                     target_asset_ids=[ids.stage], parent_run_id=run.id)
    assert proc.status is ProcedureStatus.DEFINED and proc.parent_run_id == run.id
    with pytest.raises(e.ProcedureStepsLogbookClosedError):
        record.append_procedure_step(proc.id, [{"event_id": "s0", "step_kind": "action", "payload": {}, "sampled_at": clock.current}])
    record.start_procedure(proc.id)
    with pytest.raises(e.ProcedureCannotStartError):
        record.start_procedure(proc.id)
    entries = [
        {"event_id": "0190f001-1", "step_kind": "setpoint", "payload": {"channel": "rot", "target_value": 0.0}, "sampled_at": clock.current},
        {"event_id": "0190f001-2", "step_kind": "check", "payload": {"channel": "rot", "actual": 179.998, "passed": True}, "sampled_at": clock.current + timedelta(seconds=1)},
    ]
    assert record.append_procedure_step(proc.id, entries) == 2
    assert record.append_procedure_step(proc.id, entries) == 0  # silent dedupe
    with pytest.raises(e.InvalidStepKindError):
        record.append_procedure_step(proc.id, [{**entries[0], "event_id": "x", "step_kind": "measure"}])
    steps = record.list_procedure_steps(proc.id)
    assert [s["step_kind"] for s in steps] == ["setpoint", "check"] and steps[1]["payload"]["passed"] is True
    cal = record.record_calibration(asset_id=ids.stage, quantity="rotation_center", value=-3.5, units="px",
                                    source=CalibrationSource.procedure(proc.id))
    done = record.complete_procedure(proc.id)
    assert done.status is ProcedureStatus.COMPLETED and done.steps_logbook_id
    with pytest.raises(e.ProcedureCannotCompleteError):
        record.complete_procedure(proc.id)
    with pytest.raises(e.ProcedureStepsLogbookClosedError):
        record.append_procedure_step(proc.id, [{**entries[0], "event_id": "late"}])
    assert [c.id for c in record.active_calibrations([ids.stage])] == [cal.id]
    assert record.list_calibrations(ids.stage, "rotation_center")[0].source.ref == proc.id
    assert record.list_procedures().items[0].id == proc.id


def test_procedure_refusals(record, ids):
    with pytest.raises(e.InvalidProcedureNameError):
        record.register_procedure(name="", kind="alignment")
    with pytest.raises(e.InvalidProcedureKindError):
        record.register_procedure(name="n", kind="k" * 51)
    proc = record.register_procedure(name="bakeout", kind="bakeout", target_asset_ids=[ids.mono], procedure_id="bake-1")
    with pytest.raises(e.ProcedureAlreadyExistsError):
        record.register_procedure(name="bakeout", kind="bakeout", procedure_id="bake-1")
    record.decommission_asset(ids.mono)
    with pytest.raises(e.ProcedureAssetDecommissionedError):
        record.start_procedure(proc.id)
    ghost = record.register_procedure(name="x", kind="calibration", target_asset_ids=["ghost"])
    with pytest.raises(e.AssetNotFoundError):
        record.start_procedure(ghost.id)
    for verb in (record.start_procedure, record.complete_procedure, record.get_procedure):
        with pytest.raises(e.ProcedureNotFoundError):
            verb("nope")


def test_procedure_endings(record, ids, clock):
    aborted = record.register_procedure(name="a", kind="alignment", target_asset_ids=[ids.stage])
    record.start_procedure(aborted.id)
    with pytest.raises(e.InvalidProcedureAbortReasonError):
        record.abort_procedure(aborted.id, reason=" ")
    assert record.abort_procedure(aborted.id, reason="motor stalled").last_status_reason == "motor stalled"
    with pytest.raises(e.ProcedureCannotAbortError):
        record.abort_procedure(aborted.id, reason="again")
    with pytest.raises(e.InvalidCalibrationSourceError):
        record.record_calibration(asset_id=ids.stage, quantity="rotation_center", value=1.0,
                                  source=CalibrationSource.procedure(aborted.id))
    died = record.register_procedure(name="t", kind="alignment", target_asset_ids=[ids.stage])
    record.start_procedure(died.id)
    with pytest.raises(e.InvalidProcedureTruncateReasonError):
        record.truncate_procedure(died.id, reason="")
    with pytest.raises(e.InvalidProcedureInterruptedAtError):
        record.truncate_procedure(died.id, reason="crash", interrupted_at=clock.current + timedelta(days=1))
    guess = clock.current
    clock.advance(hours=1)
    ended = record.truncate_procedure(died.id, reason="crash", interrupted_at=guess)
    assert ended.status is ProcedureStatus.TRUNCATED and ended.interrupted_at == guess
    with pytest.raises(e.ProcedureCannotTruncateError):
        record.truncate_procedure(died.id, reason="crash")


def test_clearance_review_walk(record, ids):
    assert len(record.list_clearance_form_types()) == 10
    form = record.register_clearance(form_type="desy-door", title="DOOR 5", subject_ids=[ids.subject],
                                      hazards=["laser class 4"])
    record.bind_clearance(form.id, asset_ids=[ids.stage])
    record.submit_clearance(form.id)
    with pytest.raises(e.ClearanceCannotBindError):
        record.bind_clearance(form.id, asset_ids=[ids.camera])
    officer = record.bound(principal=SAFETY_OFFICER)
    with pytest.raises(e.ClearanceCannotApproveError):
        officer.approve_clearance(form.id)
    officer.start_clearance_review(form.id)
    rejected = officer.reject_clearance(form.id, reason="hazard analysis incomplete")
    assert rejected.status is ClearanceStatus.REJECTED
    with pytest.raises(e.ClearanceCannotActivateError):
        officer.activate_clearance(form.id)
    covering = record.clearances_covering(asset_ids=[ids.stage])
    assert [c.id for c in covering] == [form.id]
    with pytest.raises(e.ClearanceFormTypeNotFoundError):
        record.register_clearance(form_type="made-up", title="x", subject_ids=["s"])
    with pytest.raises(e.ClearanceNotFoundError):
        record.submit_clearance("nope")
    assert record.list_clearances(status="Rejected").items[0].id == form.id
    superseded = officer.supersede_clearance(ids.clearance, reason="amended", superseded_by=form.id)
    assert superseded.status is ClearanceStatus.SUPERSEDED
    with pytest.raises(e.ClearanceCannotSupersedeError):
        officer.supersede_clearance(ids.clearance, reason="again")


def test_equipment_and_recipe_verbs(record, ids):
    assert {a.id for a in record.assets_for_devices(["rot", "cam"])} == {ids.stage, ids.camera}
    with pytest.raises(e.AssetContainmentCycleError):
        record.move_asset(ids.table, parent_id=ids.stage)
    moved = record.move_asset(ids.mono, parent_id=ids.table)
    assert moved.parent_id == ids.table and moved.enclosure_id is None
    with pytest.raises(e.EnclosureAlreadyExistsError):
        record.register_enclosure(name="2-BM-A", secured_pv="X:Y")
    with pytest.raises(e.EnclosureNotFoundError):
        record.register_asset(name="n", family="f", enclosure_id="ghost")
    assert record.find_plan("tomo_scan").id == ids.plan
    with pytest.raises(e.PlanNotFoundError) as missing:
        record.find_plan("fly_scan")
    assert "register" in missing.value.message
    with pytest.raises(e.PlanAlreadyExistsError):
        record.register_plan(name="tomo_scan", method_id=ids.method)
    with pytest.raises(e.MethodAlreadyExistsError):
        record.register_method(name="tomography")
    with pytest.raises(e.InvalidMethodSchemaError):
        record.register_method(name="bad", parameters_schema={"type": 12})
    assert record.get_subject(ids.subject).status == "Mounted"
    assert record.mark_subject_measured(ids.subject).status == "Measured"
    assert record.get_enclosure(ids.hutch_b).shutter_pvs == ("PA:02BM:SHTR",)
    assert len(record.list_assets(limit=10).items) == 4
    assert len(record.list_enclosures().items) == 2
    assert record.list_methods().items[0].id == ids.method
    assert record.list_plans(status="Active").items[0].id == ids.plan
    assert record.list_subjects().items[0].id == ids.subject
    assert record.get_method(ids.method).parameters_schema["required"] == ["exposure"]
    for getter, error in [
        (record.get_asset, e.AssetNotFoundError), (record.get_enclosure, e.EnclosureNotFoundError),
        (record.get_method, e.MethodNotFoundError), (record.get_plan, e.PlanNotFoundError),
        (record.get_subject, e.SubjectNotFoundError), (record.get_clearance, e.ClearanceNotFoundError),
        (record.get_calibration, e.CalibrationNotFoundError),
    ]:
        with pytest.raises(error):
            getter("nope")
