"""cora's plan stubs in simulators and on a RunEngine without cora; every command cora registers says what it does."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest
from bluesky import RunEngine
from bluesky.simulators import summarize_plan
from ophyd.sim import SynAxis, SynGauss

import cora_bluesky
from support import staff
from cora_bluesky.domain import errors as e
from cora_bluesky.plans import stubs, tomography
from cora_bluesky.plans.stubs import STEPS_STREAM
from cora_bluesky.sim.devices import build_devices


@pytest.fixture
def motor_and_detector():
    motor = SynAxis(name="motor")
    return motor, SynGauss("det", motor, "motor", center=0, Imax=1)


def stepping(motor, det):
    @bpp.run_decorator(md={"plan_name": "stepping"})
    def inner():
        yield from stubs.setpoint(motor, 1.0, units="mm")
        yield from stubs.action("inserted the diffuser")
        passed = yield from stubs.check(det, 1.0, 10.0)
        return passed

    return (yield from inner())


def test_summarize_plan_goes_through_every_tomography_plan_and_stub(capsys, motor_and_detector):
    devices = build_devices(axis_offset=3.3, time_scale=0)
    plans = {
        "dark_field": tomography.dark_field(devices.camera, devices.station_shutter),
        "flat_field": tomography.flat_field(devices.camera, devices.sample_x),
        "find_rotation_center": tomography.find_rotation_center(devices.camera, devices.rotation),
        "tomo_scan": tomography.tomo_scan(devices.camera, devices.rotation, num_angles=4),
        "stepping": stepping(*motor_and_detector),
    }
    for name, plan in plans.items():
        summarize_plan(plan)
        printed = capsys.readouterr().out
        assert "Open Run" in printed and "Close Run" in printed, name
    assert len(plans) == 5


def test_a_runengine_without_cora_moves_and_reads_but_records_no_steps(motor_and_detector):
    motor, det = motor_and_detector
    RE = RunEngine({}, call_returns_result=False)
    descriptors: list[dict] = []
    RE.subscribe(lambda name, doc: descriptors.append(doc), "descriptor")
    RE(stepping(motor, det))
    assert motor.position == 1.0
    assert [d["name"] for d in descriptors if d["name"] == STEPS_STREAM] == []


@pytest.mark.parametrize(
    "stub, command",
    [
        (lambda motor: stubs.report_calibration(motor, "offset", 1.0), "cora_report_calibration"),
        (lambda motor: stubs.adjust({"exposure": 2}, "more signal"), "cora_adjust"),
        (lambda motor: stubs.current_parameters(), "cora_parameters"),
    ],
)
def test_a_stub_that_needs_an_answer_says_cora_is_not_installed(motor_and_detector, stub, command):
    RE = RunEngine({}, call_returns_result=False)
    with pytest.raises(e.CoraNotInstalledError) as refused:
        RE(bpp.run_wrapper(stub(motor_and_detector[0])))
    assert command in refused.value.message and "cora_bluesky.install(RE, record)" in refused.value.message


def test_current_parameters_with_a_default_runs_anywhere():
    RE = RunEngine({}, call_returns_result=True)
    seen = []

    def plan():
        seen.append((yield from stubs.current_parameters({"frames": 3})))
        yield from bps.null()

    RE(plan())
    assert seen == [{"frames": 3}]


def test_every_command_cora_registers_has_a_docstring(tmp_path):
    RE = RunEngine({})
    bare = dict(RE._command_registry)
    record = staff(cora_bluesky.connect(f"sqlite:///{tmp_path / 'record.db'}"))
    cora_bluesky.install(RE, record, spool=tmp_path / "spool")
    listing = RE.print_command_registry()
    assert RE.print_command_registry(verbose=True)
    ours = {name: handler for name, handler in RE._command_registry.items() if bare.get(name) is not handler}
    assert {"open_run", "close_run", "set", "read", "cora_adjust", "cora_parameters", "cora_report_calibration",
            "cora_require_procedure"} <= set(ours)
    for name, handler in ours.items():
        assert handler.__doc__ and handler.__doc__.strip(), name
        assert f"{name} : " in listing
    record.close()
