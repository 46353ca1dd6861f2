"""A scripted session at a simulated 2-BM tomography beamline, told through the record."""

from __future__ import annotations

from typing import Callable

from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.calibration import CalibrationSource
from cora_bluesky.gates.static import StaticPermits

TOMO_SCHEMA = {
    "type": "object",
    "properties": {
        "exposure_time_ms": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
        "num_angles": {"type": "integer", "minimum": 2, "maximum": 3600},
    },
    "required": ["exposure_time_ms"],
}


def run_demo(record: Record, permits: StaticPermits, say: Callable[[str], None] = print) -> dict:
    """Walk the story end to end; returns the ids it created."""
    say("== Equipment, recipes and a sample")
    optics = record.register_enclosure(name="2-BM-A", secured_pv="PA:02BM:STA_A_SECURED_PL")
    station = record.register_enclosure(
        name="2-BM-B", secured_pv="PA:02BM:STA_B_SECURED_PL", shutter_pvs=["PA:02BM:STA_B_SBS_CLOSED_PL"]
    )
    record.register_asset(name="DMM monochromator", family="monochromator", enclosure_id=optics.id, device_names=["dmm"])
    table = record.register_asset(name="experiment table", family="table", enclosure_id=station.id)
    stage = record.register_asset(name="rotation stage", family="rotation_stage", parent_id=table.id, device_names=["rot"])
    camera = record.register_asset(name="camera", family="camera", parent_id=table.id, device_names=["cam"])
    tomo = record.register_method(name="tomography", parameters_schema=TOMO_SCHEMA, needed_families=["rotation_stage", "camera"])
    flat = record.register_method(name="flat field", needed_families=["camera"])
    tomo_scan = record.register_plan(
        name="tomo_scan", method_id=tomo.id, default_parameters={"exposure_time_ms": 50, "num_angles": 1500},
        asset_ids=[stage.id, camera.id],
    )
    flat_field = record.register_plan(name="flat_field", method_id=flat.id, default_parameters={"frames": 20}, asset_ids=[camera.id])
    sample = record.register_subject(name="sn-2024-038")
    record.mount_subject(sample.id)
    say(f"   hutches 2-BM-A and 2-BM-B; the stage and camera sit on a table in 2-BM-B; sample {sample.name} mounted")

    say("== A safety form, and a scan tried before it is in force")
    _refused(say, lambda: record.start_run(name="tomography", plan_id=tomo_scan.id, subject_id=sample.id))
    say("   the user files the ESAF")
    esaf = record.register_clearance(
        form_type="aps-esaf", title="ESAF 271828: tomography of battery cathodes",
        subject_ids=[sample.id], asset_ids=[camera.id], hazards=["lithium compounds"],
    )
    _refused(say, lambda: record.start_run(name="tomography", plan_id=tomo_scan.id, subject_id=sample.id))
    for step in (record.submit_clearance, record.start_clearance_review, record.approve_clearance):
        step(esaf.id)
    say("   the ESAF is approved, but approval is not activation")
    _refused(say, lambda: record.start_run(name="tomography", plan_id=tomo_scan.id, subject_id=sample.id))
    record.activate_clearance(esaf.id)
    say("   the reviewer activates the ESAF")
    _refused(say, lambda: record.start_run(name="tomography", plan_id=tomo_scan.id, subject_id=sample.id))
    permits.set("2-BM-B", True)
    say("   the station is searched and secured")

    say("== Flat field: a Run without a sample")
    flats = record.start_run(name="flat field before tomography", plan_id=flat_field.id)
    record.complete_run(flats.id)

    say("== Alignment: a Procedure that leaves a calibration, not a dataset")
    align = record.register_procedure(name="find rotation center", kind="alignment", target_asset_ids=[stage.id])
    record.start_procedure(align.id)
    now = record.now()
    record.append_procedure_step(align.id, [
        {"event_id": f"{align.id}-1", "step_kind": "setpoint", "payload": {"channel": "rot", "target_value": 0.0, "units": "deg"}, "sampled_at": now},
        {"event_id": f"{align.id}-2", "step_kind": "setpoint", "payload": {"channel": "rot", "target_value": 180.0, "units": "deg"}, "sampled_at": now},
        {"event_id": f"{align.id}-3", "step_kind": "check", "payload": {"quantity": "rotation_center", "actual": 3.5, "passed": True}, "sampled_at": now},
    ])
    center = record.record_calibration(asset_id=stage.id, quantity="rotation_center", value=3.5, units="px",
                                       source=CalibrationSource.procedure(align.id))
    record.complete_procedure(align.id)

    say("== Tomography: pinned calibration, a beam dump, a steer")
    scan = record.start_run(name="tomography of sn-2024-038", plan_id=tomo_scan.id, subject_id=sample.id,
                            external_refs=[("proposal", "GUP-81234")], triggered_by="operator:jdoe")
    record.append_run_readings(scan.id, [
        {"channel_name": "ring_current", "value": 102.3, "units": "mA", "sampling_procedure": "baseline", "sampled_at": record.now()},
        {"channel_name": "dmm_energy", "value": 25.0, "units": "keV", "sampling_procedure": "baseline", "sampled_at": record.now()},
    ])
    record.hold_run(scan.id)
    record.append_run_reading(scan.id, channel_name="ring_current", value=0.2, units="mA", sampling_procedure="monitor", sampled_at=record.now())
    record.resume_run(scan.id)
    record.adjust_run(scan.id, parameter_patch={"exposure_time_ms": 75}, reason="recover signal after detector temperature drift")
    _refused(say, lambda: record.adjust_run(scan.id, parameter_patch={"exposure_time_ms": 5000}, reason="try a very long exposure"))
    record.complete_run(scan.id)

    say("== A scan that died overnight, truncated in the morning")
    lost = record.start_run(name="overnight tomography", plan_id=tomo_scan.id, subject_id=sample.id)
    record.append_run_reading(lost.id, channel_name="ring_current", value=101.9, units="mA", sampling_procedure="baseline", sampled_at=record.now())
    # the operator's best guess: the last reading the run left behind
    last_seen = record.list_run_readings(lost.id)[-1]["sampled_at"]
    record.truncate_run(lost.id, reason="control workstation lost power", interrupted_at=last_seen)

    say("\n== The record")
    for run in reversed(record.list_runs(limit=50).items):
        _timeline(record, run.id, say)
    say(f"   calibration of record: rotation_center = {center.value} {center.units} (from procedure {align.name!r})")
    return {"runs": [flats.id, scan.id, lost.id], "procedure": align.id, "calibration": center.id}


def _refused(say: Callable[[str], None], attempt: Callable[[], object]) -> None:
    try:
        attempt()
    except e.CoraError as refusal:
        say(f"   refused: {refusal.name}: {refusal.message}")
    else:  # the story depends on this refusal
        raise AssertionError("expected the record to refuse")


def _timeline(record: Record, run_id: str, say: Callable[[str], None]) -> None:
    run = record.get_run(run_id)
    events = record.store.load(f"run:{run_id}")
    holds = sum(1 for ev in events if ev.event_type == "RunHeld")
    readings = len(record.list_run_readings(run_id))
    say(f" - {run.name}: {run.status}")
    say(f"     holds {holds}, adjustments {run.adjustment_count}, readings {readings}, pinned {list(run.pinned_calibrations) or 'none'}")
    say(f"     parameters {dict(run.effective_parameters)}")
    if run.last_reason:
        say(f"     reason: {run.last_reason}")
    if run.interrupted_at:
        say(f"     interrupted at {run.interrupted_at.isoformat()} (recorded {run.updated_at.isoformat()})")
