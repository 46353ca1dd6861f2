"""Plan stubs inside real plans: steps, calibrations of record, steering from plan and console."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest
from bluesky import RunEngine
from bluesky.utils import RunEngineInterrupted
from ophyd.sim import SynAxis, SynGauss
from support import build_beamline

import cora_bluesky
from cora_bluesky.domain import errors as e
from cora_bluesky.plans import (
    action,
    adjust,
    check,
    current_parameters,
    procedure_wrapper,
    report_calibration,
    setpoint,
)


@pytest.fixture
def rig(tmp_path):
    record = cora_bluesky.connect(f"sqlite:///{tmp_path / 'r.db'}", permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    rot = SynAxis(name="rot")
    cam = SynGauss("cam", rot, "rot", center=0, Imax=1)
    RE = RunEngine({}, call_returns_result=False)
    cora = cora_bluesky.install(RE, record)
    yield RE, cora, record, ids, rot, cam
    if RE.state != "idle":
        RE.abort("teardown")
    record.close()


def test_an_alignment_procedure_leaves_steps_and_a_calibration(rig):
    RE, cora, record, ids, rot, cam = rig
    outcome = {}

    @bpp.run_decorator(md={})
    def find_rotation_center():
        yield from setpoint(rot, 0.0, units="deg")
        yield from action("inserted the phantom")
        outcome["passed"] = yield from check(rot, 0.0, 0.01)
        yield from setpoint(rot, 180.0, units="deg")
        outcome["calibration"] = yield from report_calibration(rot, "rotation_center", 3.5, units="px")

    RE(procedure_wrapper(find_rotation_center(), name="find rotation center", kind="alignment",
                         target_devices=["rot"]))
    assert cora.flush(10)
    (procedure,) = record.list_procedures().items
    assert procedure.status == "Completed"
    steps = record.list_procedure_steps(procedure.id)
    assert [s["step_kind"] for s in steps] == ["setpoint", "action", "check", "setpoint"]
    assert steps[0]["payload"] == {"channel": "rot", "target_value": 0.0, "units": "deg"}
    assert steps[2]["payload"]["passed"] is True and outcome["passed"] is True
    revision = record.get_calibration(outcome["calibration"])
    assert (revision.asset_id, revision.value, revision.source.ref) == (ids.stage, 3.5, procedure.id)
    assert [c.id for c in record.active_calibrations([ids.stage])] == [revision.id]


def test_a_calibration_reported_inside_a_run_is_refused(rig):
    RE, cora, record, ids, rot, cam = rig

    @bpp.run_decorator(md={"plan_name": "tomo_scan"})
    def scan_that_calibrates():
        yield from bps.trigger_and_read([cam])
        yield from report_calibration(rot, "rotation_center", 3.5)

    with pytest.raises(e.InvalidCalibrationSourceError, match="never from Runs"):
        RE(scan_that_calibrates(), subject_id=ids.subject)
    assert record.active_calibrations([ids.stage]) == []
    assert cora.flush(10)
    assert record.list_runs().items[0].status == "Aborted"


def test_adjust_inside_the_plan_and_from_the_console(rig):
    RE, cora, record, ids, rot, cam = rig
    seen = {}

    @bpp.run_decorator(md={"plan_name": "tomo_scan"})
    def steered():
        seen["before"] = yield from current_parameters()
        seen["after"] = yield from adjust({"exposure": 0.2}, "signal too weak", decided_by="decision-7")
        try:
            yield from adjust({"exposure": 50}, "far too long")
        except e.InvalidRunAdjustSchemaError:
            seen["refused"] = True
        yield from bps.checkpoint()
        yield from bps.pause()
        seen["console"] = yield from current_parameters()

    with pytest.raises(RunEngineInterrupted):
        RE(steered(), subject_id=ids.subject)
    cora.adjust({"angles": 90}, "operator shortened the scan while paused")
    RE.resume()
    assert seen["before"] == {"exposure": 0.1, "angles": 180}
    assert seen["after"] == {"exposure": 0.2, "angles": 180} and seen["refused"]
    assert seen["console"] == {"exposure": 0.2, "angles": 90}
    assert cora.flush(10)
    run = record.list_runs().items[0]
    assert run.adjustment_count == 2 and run.status == "Completed"


def test_steps_outside_a_procedure_are_refused(rig):
    RE, cora, record, ids, rot, cam = rig

    @bpp.run_decorator(md={"plan_name": "tomo_scan"})
    def scan_with_step():
        yield from action("this is not a procedure")

    with pytest.raises(e.InvalidCalibrationSourceError):
        RE(scan_with_step(), subject_id=ids.subject)
