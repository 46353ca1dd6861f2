"""The gate at the RunEngine's chokepoint: every run, on everything it touches.

A real RunEngine, ophyd sim and ophyd-async sim devices, and the PSS IOC on loopback. Hutch
2-BM-A holds the monochromator (``mono``); hutch 2-BM-B holds the experiment table with the
rotation stage (``rot``), the camera (``cam``), an xy stage (``stage``) and a flyer.
"""

from __future__ import annotations

import json
import warnings

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import pytest
from bluesky import RunEngine
from bluesky.suspenders import SuspendBoolHigh
from bluesky.utils import RunEngineInterrupted
from ophyd import Component as Cpt
from ophyd import Device, Signal
from ophyd.sim import SynAxis, SynGauss, TrivialFlyer
from support import activate_clearance

import cora_bluesky
from cora_bluesky.domain import errors as e
from cora_bluesky.plans import procedure_wrapper

REFUSED_HUTCH = (e.RunRequiresPermittedEnclosureError, e.RunEnclosureCoverageMismatchError)


class XYStage(Device):
    x = Cpt(SynAxis)
    y = Cpt(SynAxis)


@pytest.fixture
def rig(beamline, ioc):
    """A RunEngine with cora, a generic method and clearance over every asset, devices in both hutches."""
    record, ids = beamline
    stage = record.register_asset(name="xy stage", family="sample_stage", parent_id=ids.table, device_names=["stage"])
    flyer = record.register_asset(name="flyer", family="flyer", parent_id=ids.table, device_names=["trivial_flyer"])
    ids.xy, ids.flyer = stage.id, flyer.id
    method = record.register_method(name="anything")
    plans = {}
    for name in PLAN_NAMES:
        plans[name] = record.register_plan(name=name, method_id=method.id, asset_ids=[ids.mono]).id
    activate_clearance(record, asset_ids=[ids.mono, ids.stage, ids.camera, ids.xy, ids.flyer])
    RE = RunEngine({}, call_returns_result=False)
    cora = cora_bluesky.install(RE, record, principal="jdoe", outside_hutches=["soft_*"])
    documents: list[tuple[str, dict]] = []
    RE.subscribe(lambda name, doc: documents.append((name, doc)))
    rot = SynAxis(name="rot")
    devices = dict(
        rot=rot, cam=SynGauss("cam", rot, "rot", center=0, Imax=1), mono=SynAxis(name="mono"),
        stage=XYStage(name="stage"), flyer=TrivialFlyer(), soft=Signal(name="soft_gain", value=1.0),
    )
    yield RE, cora, record, ids, devices, documents
    if RE.state != "idle":
        RE.abort("teardown")
    cora.close(10)


PLAN_NAMES = [
    "count", "scan", "rel_scan", "grid_scan", "list_scan", "spiral", "fly", "ramp_plan", "adaptive_scan",
    "tune_centroid", "x2x_scan", "nested", "mv_then_read", "dark_frame",
]


def starts(documents) -> list[dict]:
    return [doc for name, doc in documents if name == "start"]


def the_runs(cora, record):
    assert cora.flush(10)
    return record.list_runs(limit=100).items


# --- one plan per way of touching hutch 2-BM-B, run while 2-BM-B is unsecured -------------

def nested(d):
    @bpp.run_decorator(md={"plan_name": "nested", "detectors": ["mono"]})
    def inner():
        yield from bps.mv(d["rot"], 1)
        yield from bps.trigger_and_read([d["mono"]])

    @bpp.run_decorator(md={"plan_name": "nested", "detectors": ["mono"]})
    def outer():
        yield from bps.trigger_and_read([d["mono"]])
        yield from bpp.set_run_key_wrapper(inner(), "inner")

    return outer()


def mv_then_read(d):
    @bpp.run_decorator(md={"plan_name": "mv_then_read", "detectors": ["mono"]})
    def plan():
        yield from bps.mv(d["rot"], 5)
        yield from bps.trigger_and_read([d["mono"], d["rot"]])

    return plan()


def ramp(d):
    def go():
        return (yield from bps.abs_set(d["rot"], 1, wait=False))

    return bp.ramp_plan(go(), d["rot"], lambda: (yield from bps.trigger_and_read([d["mono"]])), period=0.01)


def per_shot_moving_rot(d):
    def shot(detectors):
        yield from bps.mv(d["rot"], 2)
        yield from bps.trigger_and_read(detectors)

    return bp.count([d["mono"]], num=2, per_shot=shot)


PLANS_TOUCHING_B = {
    "count": lambda d: bp.count([d["mono"], d["cam"]]),
    "count per_shot moving rot": per_shot_moving_rot,
    "scan": lambda d: bp.scan([d["mono"]], d["rot"], -1, 1, 3),
    "rel_scan": lambda d: bp.rel_scan([d["mono"]], d["rot"], -1, 1, 3),
    "grid_scan": lambda d: bp.grid_scan([d["mono"]], d["stage"].x, -1, 1, 2, d["stage"].y, -1, 1, 2),
    "list_scan": lambda d: bp.list_scan([d["mono"]], d["stage"].x, [0, 1]),
    "spiral": lambda d: bp.spiral([d["mono"]], d["stage"].x, d["stage"].y, 0, 0, 1, 1, 0.5, 2),
    "fly": lambda d: bp.fly([d["flyer"]]),
    "ramp_plan": ramp,
    "adaptive_scan": lambda d: bp.adaptive_scan([d["cam"]], "cam", d["mono"], -1, 1, 0.5, 1, 0.1, True),
    "tune_centroid": lambda d: bp.tune_centroid([d["cam"]], "cam", d["mono"], -1, 1, 0.5, 3),
    "x2x_scan": lambda d: bp.x2x_scan([d["mono"]], d["rot"], d["stage"].x, -1, 1, 3),
    "nested": nested,
    "mv_then_read": mv_then_read,
}


@pytest.mark.parametrize("plan", PLANS_TOUCHING_B)
def test_every_bluesky_plan_touching_an_unsecured_hutch_is_refused(rig, ioc, plan):
    RE, cora, record, ids, devices, documents = rig
    ioc.put("B:SECURED", 0)
    with pytest.raises(REFUSED_HUTCH) as refused:
        RE(PLANS_TOUCHING_B[plan](devices))
    assert "2-BM-B" in refused.value.data["hutches"]
    assert devices["rot"].position == 0 and devices["stage"].x.position == 0  # nothing moved in B
    runs = the_runs(cora, record)
    # refused at the start (no document at all), or mid-run: every run that opened is Aborted
    assert len(starts(documents)) == len(runs)
    for run in runs:
        assert run.status == "Aborted" and run.last_reason.startswith(str(refused.value)[:60])
    stops = [doc for name, doc in documents if name == "stop"]
    assert all(stop["exit_status"] == "fail" for stop in stops)


def test_the_refusal_matrix_saw_every_plan():
    assert set(PLANS_TOUCHING_B) - {"count per_shot moving rot"} == set(PLAN_NAMES) - {"dark_frame"}


def _normal(documents):
    """Documents without what differs between two RunEngines: uids, times, cora's own keys."""
    dropped = {"uid", "time", "run_start", "descriptor", "timestamps", "cora_run_id", "cora_procedure_id"}
    out = []
    for name, doc in documents:
        doc = {k: v for k, v in doc.items() if k not in dropped}
        if name == "descriptor":
            doc["configuration"] = {
                device: {k: v for k, v in conf.items() if k != "timestamps"}
                for device, conf in doc.get("configuration", {}).items()
            }
        out.append((name, json.dumps(doc, sort_keys=True, default=repr)))
    return out


@pytest.mark.parametrize("plan", sorted(set(PLANS_TOUCHING_B) - {"ramp_plan"}))
def test_with_every_hutch_secured_the_documents_equal_a_bare_runengines(rig, plan):
    RE, cora, record, ids, devices, documents = rig

    def home():
        for device in (devices["rot"], devices["mono"], devices["stage"].x, devices["stage"].y):
            device.set(0.0).wait(5)

    home()
    RE(PLANS_TOUCHING_B[plan](devices))
    gated = list(documents)
    runs = the_runs(cora, record)
    assert runs and all(run.status == "Completed" for run in runs)
    assert all(doc["cora_run_id"] in {r.id for r in runs} for doc in starts(gated))

    home()
    bare_docs: list = []
    bare = RunEngine({}, call_returns_result=False)
    bare.subscribe(lambda name, doc: bare_docs.append((name, doc)))
    bare(PLANS_TOUCHING_B[plan](devices))
    assert _normal(gated) == _normal(bare_docs)


def test_a_ramp_with_every_hutch_secured_completes(rig):
    RE, cora, record, ids, devices, documents = rig
    RE(ramp(devices))
    (run,) = the_runs(cora, record)
    assert run.status == "Completed"


# --- runs opened where a preprocessor never looks ---------------------------------------

def test_a_preprocessor_appended_after_install_opens_a_gated_run(rig, ioc):
    RE, cora, record, ids, devices, documents = rig

    def dark_frame(plan):
        def with_dark():
            yield from bp.count([devices["cam"]], md={"plan_name": "dark_frame"})
            return (yield from plan)

        return with_dark()

    RE.preprocessors.append(dark_frame)
    ioc.put("B:SECURED", 0)
    with pytest.raises(REFUSED_HUTCH):
        RE(bp.count([devices["mono"]]))
    assert documents == [] and the_runs(cora, record) == []


def test_reassigned_preprocessors_do_not_drop_the_gate(rig, ioc):
    RE, cora, record, ids, devices, documents = rig
    RE.preprocessors = [lambda plan: bpp.pchain(bp.count([devices["cam"]]), plan)]
    ioc.put("B:SECURED", 0)
    with pytest.raises(REFUSED_HUTCH):
        RE(bp.count([devices["mono"]]))
    assert documents == [] and the_runs(cora, record) == []


def test_a_suspenders_pre_plan_opens_a_gated_run(rig, ioc):
    RE, cora, record, ids, devices, documents = rig
    interlock = Signal(name="soft_interlock", value=0)
    RE.install_suspender(SuspendBoolHigh(interlock, pre_plan=lambda: bp.count([devices["cam"]], md={"dark": True})))
    ioc.put("B:SECURED", 0)

    @bpp.run_decorator(md={"plan_name": "count", "detectors": ["mono"]})
    def tripping():
        yield from bps.mv(interlock, 1)  # the suspender trips and pushes its pre_plan
        yield from bps.checkpoint()
        for _ in range(50):
            yield from bps.trigger_and_read([devices["mono"]])
            yield from bps.sleep(0.02)

    with pytest.raises(REFUSED_HUTCH):
        RE(tripping())
    assert not any(doc.get("dark") for doc in starts(documents))  # the pre_plan's run never started
    (run,) = the_runs(cora, record)
    assert run.status == "Aborted" and "2-BM-B" in run.last_reason


def test_metadata_an_outer_preprocessor_injects_reaches_the_gate(rig):
    RE, cora, record, ids, devices, documents = rig
    RE.preprocessors.append(lambda plan: bpp.inject_md_wrapper(plan, {"esaf_id": "ESAF-9", "subject_id": ids.subject}))
    RE(bp.count([devices["mono"]]))
    (run,) = the_runs(cora, record)
    assert run.subject_id == ids.subject and ("esaf", "ESAF-9") in {(r.scheme, r.id) for r in run.external_refs}


# --- procedures only from procedure_wrapper -------------------------------------------------

@pytest.mark.parametrize("where", ["RE.md", "call", "plan md"])
def test_a_procedure_cannot_be_declared_in_user_metadata(rig, where):
    RE, cora, record, ids, devices, documents = rig
    declaration = {"name": "align", "kind": "alignment", "target_asset_ids": [], "target_devices": []}
    md = {"cora_procedure": declaration}
    if where == "RE.md":
        RE.md.update(md)
        call = lambda: RE(bp.count([devices["cam"]]))  # noqa: E731
    elif where == "call":
        call = lambda: RE(bp.count([devices["cam"]]), **md)  # noqa: E731
    else:
        call = lambda: RE(bp.count([devices["cam"]], md=md))  # noqa: E731
    with pytest.raises(e.ReservedMetadataError) as refused:
        call()
    assert refused.value.data["keys"] == ["cora_procedure"] and "procedure_wrapper" in refused.value.message
    assert documents == [] and the_runs(cora, record) == [] and record.list_procedures().items == []


def test_procedure_wrapper_still_declares_and_its_devices_are_gated(rig, ioc):
    RE, cora, record, ids, devices, documents = rig
    aligned = procedure_wrapper(bp.count([devices["mono"]]), name="align mono", kind="alignment")
    RE(aligned)
    assert cora.flush(10)
    (procedure,) = record.list_procedures().items
    assert procedure.status == "Completed" and starts(documents)[0]["cora_procedure"]["kind"] == "alignment"
    assert type(starts(documents)[0]["cora_procedure"]) is dict  # a plain mapping in the document

    ioc.put("B:SECURED", 0)
    with pytest.raises(REFUSED_HUTCH):
        RE(procedure_wrapper(per_shot_moving_rot(devices), name="align rot", kind="alignment"))
    assert devices["rot"].position == 0


# --- devices the record cannot place, and devices joining mid-run ---------------------------

def test_an_unknown_device_is_refused_before_any_document(rig):
    RE, cora, record, ids, devices, documents = rig
    with pytest.raises(e.RunRequiresKnownDevicesError) as refused:
        RE(bp.count([devices["mono"], SynAxis(name="stray")]))
    assert refused.value.data["devices"] == ["stray"] and "outside_hutches" in refused.value.message
    assert documents == [] and the_runs(cora, record) == []


def test_an_unknown_device_reached_mid_run_aborts_the_run_before_it_moves(rig):
    RE, cora, record, ids, devices, documents = rig
    stray = SynAxis(name="stray")

    def shot(detectors):
        yield from bps.mv(stray, 3)
        yield from bps.trigger_and_read(detectors)

    with pytest.raises(e.RunRequiresKnownDevicesError):
        RE(bp.count([devices["mono"]], per_shot=shot))
    assert stray.position == 0
    (run,) = the_runs(cora, record)
    assert run.status == "Aborted" and run.last_reason.startswith("RunRequiresKnownDevices: ")


def test_devices_outside_every_hutch_add_nothing(rig, ioc):
    RE, cora, record, ids, devices, documents = rig
    ioc.put("B:SECURED", 0)

    def shot(detectors):
        yield from bps.mv(devices["soft"], 2.0)
        yield from bps.trigger_and_read([*detectors, devices["soft"]])

    RE(bp.count([devices["mono"]], per_shot=shot))
    (run,) = the_runs(cora, record)
    assert run.status == "Completed" and run.asset_ids == (ids.mono,)


def test_a_device_joining_from_a_permitted_hutch_is_on_the_record(rig):
    RE, cora, record, ids, devices, documents = rig
    RE(per_shot_moving_rot(devices))
    (run,) = the_runs(cora, record)
    joined = [ev for ev in record.history("run", run.id) if ev.event_type == "RunAssetsJoined"]
    assert len(joined) == 1 and joined[0].payload["asset_ids"] == [ids.stage]
    assert joined[0].payload["devices"] == ["rot"] and joined[0].payload["enclosure_ids"] == [ids.hutch_b]
    assert run.status == "Completed" and ids.stage in run.asset_ids


def test_a_plan_that_catches_the_refusal_still_ends_aborted(rig, ioc):
    RE, cora, record, ids, devices, documents = rig
    ioc.put("B:SECURED", 0)

    @bpp.run_decorator(md={"plan_name": "mv_then_read", "detectors": ["mono"]})
    def stubborn():
        try:
            yield from bps.mv(devices["rot"], 5)
        except e.RunRequiresPermittedEnclosureError:
            pass
        yield from bps.trigger_and_read([devices["mono"]])

    RE(stubborn())
    (run,) = the_runs(cora, record)
    assert devices["rot"].position == 0
    assert run.status == "Aborted" and run.last_reason.startswith("RunRequiresPermittedEnclosure: rot in hutch")
    (stop,) = [doc for name, doc in documents if name == "stop"]
    assert stop["exit_status"] == "fail"


@pytest.mark.parametrize("through", ["start document", "a message"])
def test_an_ophyd_component_resolves_to_its_parents_asset(rig, ioc, through):
    RE, cora, record, ids, devices, documents = rig
    stage = devices["stage"]
    assert stage.x.name == "stage_x" and stage.x.parent is stage
    ioc.put("B:SECURED", 0)
    if through == "start document":
        with pytest.raises(REFUSED_HUTCH):
            RE(bp.scan([devices["mono"]], stage.x, -1, 1, 3))
        assert documents == []
    else:
        with pytest.raises(REFUSED_HUTCH):
            RE(bp.count([devices["mono"]], per_shot=lambda dets: (yield from bps.mv(stage.x, 1))))
        (run,) = the_runs(cora, record)
        assert run.status == "Aborted"
    assert stage.x.position == 0


def test_an_ophyd_async_component_resolves_to_its_parents_asset(rig, ioc):
    from ophyd_async.core import StandardReadable
    from ophyd_async.plan_stubs import ensure_connected
    from ophyd_async.sim import SimMotor

    class AsyncStage(StandardReadable):
        def __init__(self, name=""):
            with self.add_children_as_readables():
                self.x = SimMotor(instant=True)
            super().__init__(name=name)

    RE, cora, record, ids, devices, documents = rig
    stage = AsyncStage(name="stage")
    RE(ensure_connected(stage))
    assert stage.x.name == "stage-x" and stage.x.parent is stage
    ioc.put("B:SECURED", 0)
    with pytest.raises(REFUSED_HUTCH):
        RE(bp.scan([devices["mono"]], stage.x, -1, 1, 3))
    with pytest.raises(REFUSED_HUTCH):
        RE(bp.count([devices["mono"]], per_shot=lambda dets: (yield from bps.mv(stage.x, 1))))
    ioc.put("B:SECURED", 1)
    RE(bp.scan([devices["mono"]], stage.x, -1, 1, 3))
    runs = the_runs(cora, record)
    assert sorted(run.status for run in runs) == ["Aborted", "Completed"]
    assert ids.xy in next(run for run in runs if run.status == "Completed").asset_ids


# --- hooks reassigned after install ------------------------------------------------------

def test_reassigned_hooks_are_chained_again_and_holds_still_recorded(rig):
    RE, cora, record, ids, devices, documents = rig
    seen_states, seen_msgs = [], []
    RE.state_hook = lambda new, old: seen_states.append(new)
    RE.msg_hook = lambda msg: seen_msgs.append(msg.command)

    @bpp.run_decorator(md={"plan_name": "count", "detectors": ["mono"]})
    def pausing():
        yield from bps.trigger_and_read([devices["mono"]])
        yield from bps.checkpoint()
        yield from bps.pause()
        yield from bps.trigger_and_read([devices["mono"]])

    with pytest.warns(RuntimeWarning, match="reassigned after cora_bluesky.install"):
        with pytest.raises(RunEngineInterrupted):
            RE(pausing())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once, not at every run
        RE.resume()
    (run,) = the_runs(cora, record)
    types = [ev.event_type for ev in record.history("run", run.id)]
    assert types.count("RunHeld") == 1 and types.count("RunResumed") == 1 and run.status == "Completed"
    assert "paused" in seen_states and "open_run" in seen_msgs  # the profile's own hooks still run


# --- permits are read at the moment of decision -------------------------------------------

def test_no_run_starts_after_another_client_read_the_hutch_as_unsecured(beamline, ioc, tmp_path):
    """Fresh processes; in each, the PV flips to 0 right after the gate first connected."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ophyd import EpicsSignalRO

    record, ids = beamline
    record.register_plan(name="count", method_id=record.register_method(name="counting").id)
    activate_clearance(record, asset_ids=[ids.stage])
    uri = f"sqlite:///{tmp_path / 'record.db'}"
    readback = EpicsSignalRO(ioc.pv("B:SECURED"), name="readback")
    script = Path(__file__).with_name("permit_flip_session.py")
    trials = int(os.environ.get("CORA_PERMIT_FLIP_TRIALS", "6"))
    outcomes = []
    for _ in range(trials):
        ioc.put("B:SECURED", 1, settle=0)
        child = subprocess.Popen([sys.executable, str(script), uri, ioc.pv("B:SECURED")], text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            assert child.stdout.readline().strip() == "READY"
            ioc.put("B:SECURED", 0, settle=0)
            assert readback.get(use_monitor=False) == 0  # another client reads it as unsecured
            child.stdin.write("GO\n")
            child.stdin.flush()
            outcomes.append(child.stdout.readline().strip())
        finally:
            child.kill()
            child.wait(10)
    assert len(outcomes) == trials
    assert outcomes == ["REFUSED RunRequiresPermittedEnclosure"] * trials
    assert record.list_runs().items == []


def test_the_gate_decides_on_the_metadata_the_normalizer_leaves(rig):
    RE, cora, record, ids, devices, documents = rig
    RE.md_normalizer = lambda md: {**md, "subject_id": ids.subject, "esaf_id": "ESAF-12"}
    RE(bp.count([devices["mono"]]))
    (run,) = the_runs(cora, record)
    assert starts(documents)[0]["subject_id"] == run.subject_id == ids.subject
    assert ("esaf", "ESAF-12") in {(r.scheme, r.id) for r in run.external_refs}


def test_an_aborted_run_leaves_no_stale_scope_behind(rig, ioc):
    RE, cora, record, ids, devices, documents = rig

    @bpp.run_decorator(md={"plan_name": "count", "detectors": ["mono"]})
    def pausing():
        yield from bps.mv(devices["rot"], 1)  # rot joins this run
        yield from bps.checkpoint()
        yield from bps.pause()

    with pytest.raises(RunEngineInterrupted):
        RE(pausing())
    assert cora.gate.open_runs() != []
    RE.abort("sample moved")
    assert cora.gate.open_runs() == [] and cora.gate.innermost() is None
    ioc.put("B:SECURED", 0)
    RE(bps.mv(devices["rot"], 2))  # motion outside any run is outside the gate (README)
    assert devices["rot"].position == 2
    with pytest.raises(REFUSED_HUTCH):  # and a new run does not inherit the aborted run's scope
        RE(mv_then_read(devices))
    assert devices["rot"].position == 2


def test_a_command_registered_over_the_gate_is_replaced_by_the_gate_again(rig, ioc):
    RE, cora, record, ids, devices, documents = rig
    own = RE._command_registry["set"]

    async def unchecked_set(msg):
        return await own(msg)

    RE.register_command("set", unchecked_set)
    RE.unregister_command("open_run")
    ioc.put("B:SECURED", 0)
    with pytest.warns(RuntimeWarning, match="open_run, set"):
        with pytest.raises(REFUSED_HUTCH):
            RE(mv_then_read(devices))
    assert devices["rot"].position == 0


def _suspend_once(RE, devices, documents, suspender, interlock):
    """Count; a helper thread trips ``suspender`` once the first event is out, then releases it."""
    import threading

    from support import wait_for

    def trip_and_release():
        try:
            wait_for(lambda: any(name == "event" for name, _ in documents), 30, "the first event")
            interlock.put(1)
            wait_for(lambda: suspender.tripped, 30, "the suspender to trip")
        finally:
            interlock.put(0)  # whatever happened, the RunEngine does not stay suspended

    threading.Thread(target=trip_and_release, daemon=True).start()
    RE(bp.count([devices["mono"]], num=50, delay=0.02))


def test_a_suspenders_post_plan_opens_a_gated_run(rig, ioc):
    RE, cora, record, ids, devices, documents = rig
    interlock = Signal(name="soft_interlock", value=0)
    suspender = SuspendBoolHigh(interlock, post_plan=lambda: bp.count([devices["cam"]], md={"flat": True}))
    RE.install_suspender(suspender)
    ioc.put("B:SECURED", 0)
    with pytest.raises(REFUSED_HUTCH):
        _suspend_once(RE, devices, documents, suspender, interlock)
    assert not any(doc.get("flat") for doc in starts(documents))
    (run,) = the_runs(cora, record)
    assert run.status == "Aborted" and "2-BM-B" in run.last_reason


def test_a_reassigned_msg_hook_still_records_suspensions(rig):
    RE, cora, record, ids, devices, documents = rig
    interlock = Signal(name="soft_interlock", value=0)
    suspender = SuspendBoolHigh(interlock)
    RE.install_suspender(suspender)
    RE.msg_hook = lambda msg: None  # the usual debugging line, after install()
    with pytest.warns(RuntimeWarning, match="RE.msg_hook was reassigned"):
        _suspend_once(RE, devices, documents, suspender, interlock)
    (run,) = the_runs(cora, record)
    types = [ev.event_type for ev in record.history("run", run.id)]
    assert run.status == "Completed" and types.count("RunHeld") == 1 and types.count("RunResumed") == 1


# --- found by attacking the gate -----------------------------------------------------------

def test_a_run_whose_start_callback_raised_is_still_gated(rig, ioc):
    from bluesky.utils import Msg

    RE, cora, record, ids, devices, documents = rig
    ioc.put("B:SECURED", 0)

    def boom(name, doc):
        raise RuntimeError("callback failed on start")

    def plan():
        token = yield from bps.subscribe("start", boom)
        try:
            yield Msg("open_run", plan_name="mv_then_read", detectors=["mono"])
        except RuntimeError:
            pass  # the start document is out: the run is open
        yield from bps.unsubscribe(token)
        yield from bps.mv(devices["rot"], 5)
        yield Msg("close_run", exit_status="success")

    with pytest.raises(REFUSED_HUTCH):
        RE(plan())
    assert devices["rot"].position == 0
    (run,) = the_runs(cora, record)
    assert run.status == "Aborted" and run.last_reason.startswith("RunRequiresPermittedEnclosure: rot")


@pytest.mark.parametrize("command", ["locate", "declare_stream"])
def test_every_device_a_message_names_is_gated(rig, ioc, command):
    RE, cora, record, ids, devices, documents = rig
    ioc.put("B:SECURED", 0)

    @bpp.run_decorator(md={"plan_name": "mv_then_read", "detectors": ["mono"]})
    def plan():
        if command == "locate":
            return (yield from bps.locate(devices["mono"], devices["rot"]))
        return (yield from bps.declare_stream(devices["mono"], devices["rot"], name="extra"))

    with pytest.raises(REFUSED_HUTCH) as refused:
        RE(plan())
    assert refused.value.data["devices"] == ["rot"]
    (run,) = the_runs(cora, record)
    assert run.status == "Aborted"


def test_a_message_to_a_device_reaches_its_components_in_other_hutches(rig, ioc):
    RE, cora, record, ids, devices, documents = rig
    record.register_asset(name="frame", family="frame", enclosure_id=ids.hutch_a, device_names=["frame"])
    record.register_asset(name="frame x", family="stage", parent_id=ids.table, device_names=["frame_x"])
    frame = XYStage(name="frame")
    ioc.put("B:SECURED", 0)

    @bpp.run_decorator(md={"plan_name": "mv_then_read", "detectors": ["mono"]})
    def plan():
        yield from bps.configure(frame, {"x.velocity": 7})

    with pytest.raises(REFUSED_HUTCH):
        RE(plan())
    assert frame.x.velocity.get() != 7


def test_a_soft_device_declared_outside_hutches_still_reaches_known_components(rig, ioc):
    RE, cora, record, ids, devices, documents = rig
    record.register_asset(name="soft box x", family="stage", parent_id=ids.table, device_names=["soft_box_x"])
    box = XYStage(name="soft_box")  # matches soft_*, but its x answers to an asset in 2-BM-B
    ioc.put("B:SECURED", 0)
    with pytest.raises(REFUSED_HUTCH):
        RE(bp.count([devices["mono"]], per_shot=lambda dets: (yield from bps.trigger_and_read([box]))))


def test_a_caught_refusal_aborts_the_run_even_when_the_runengine_closes_it(rig, ioc):
    from bluesky.utils import Msg

    RE, cora, record, ids, devices, documents = rig
    ioc.put("B:SECURED", 0)

    def plan():
        yield Msg("open_run", plan_name="mv_then_read", detectors=["mono"])
        try:
            yield from bps.mv(devices["rot"], 5)
        except e.CoraError:
            pass
        yield from bps.trigger_and_read([devices["mono"]])  # ends without close_run

    RE(plan())
    (stop,) = [doc for name, doc in documents if name == "stop"]
    assert stop["exit_status"] == "success"  # the RunEngine closed it, unaware
    (run,) = the_runs(cora, record)
    assert run.status == "Aborted" and run.last_reason.startswith("RunRequiresPermittedEnclosure: rot")


def test_a_beamline_can_gate_motion_outside_runs_too(beamline, ioc):
    record, ids = beamline
    RE = RunEngine({}, call_returns_result=False)
    cora = cora_bluesky.install(RE, record, outside_hutches=["soft_*"], gate_outside_runs=True)
    rot, mono = SynAxis(name="rot"), SynAxis(name="mono")
    cam = SynGauss("cam", rot, "rot", center=0, Imax=1)
    cam.stage_sigs[cam.Imax] = 1000
    writes = []
    cam.Imax.subscribe(lambda value, **kwargs: writes.append(value), run=False)
    ioc.put("B:SECURED", 0)
    with pytest.raises(e.RunRequiresPermittedEnclosureError):
        RE(bps.mv(rot, 2))
    with pytest.raises(e.RunRequiresPermittedEnclosureError):
        RE(bp.count([cam]))  # refused at its staging, before the run would open
    assert rot.position == 0 and writes == []
    RE(bps.mv(mono, 2, Signal(name="soft_gain", value=0), 1))  # hutch 2-BM-A is permitted
    assert mono.position == 2
    cora.close(10)


def test_an_unknown_device_named_like_a_known_one_is_refused_before_any_document(rig):
    RE, cora, record, ids, devices, documents = rig
    extra = SynAxis(name="rot_extra")  # not a component of rot: the name alone would pass as one
    with pytest.raises(e.RunRequiresKnownDevicesError) as refused:
        RE(bp.scan([devices["mono"]], extra, 0, 1, 2))  # scan stages its motor before opening the run
    assert refused.value.data["devices"] == ["rot_extra"]
    assert documents == [] and the_runs(cora, record) == [] and extra.position == 0
