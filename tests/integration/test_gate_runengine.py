"""The start gate in a real RunEngine with ophyd sim devices and the PSS IOC on loopback."""

from __future__ import annotations

import threading
import time

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import pytest
from bluesky import RunEngine
from bluesky.utils import IllegalMessageSequence, Msg, RunEngineInterrupted
from ophyd import Signal
from ophyd.sim import SynAxis, SynGauss
from support import activate_clearance, perform, wait_for

import cora_bluesky
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.gates import enclosure_scope
from cora_bluesky.plans import procedure_wrapper


@pytest.fixture
def devices():
    rot = SynAxis(name="rot")
    cam = SynGauss("cam", rot, "rot", center=0, Imax=1)
    mono = SynAxis(name="mono")
    return rot, cam, mono


@pytest.fixture
def session(beamline, devices):
    """A RunEngine with cora-bluesky installed, every emitted document collected."""
    record, ids = beamline
    counting = record.register_method(name="counting", needed_families=["camera"])
    record.register_plan(name="count", method_id=counting.id)
    record.register_plan(name="scan", method_id=ids.method, default_parameters={"exposure": 0.1})
    record.register_plan(name="count_with_pause", method_id=counting.id)
    RE = RunEngine({}, call_returns_result=False)
    cora = cora_bluesky.install(RE, record, principal="jdoe")
    documents: list[tuple[str, dict]] = []
    RE.subscribe(lambda name, doc: documents.append((name, doc)))
    yield RE, cora, record, ids, documents
    if RE.state != "idle":
        RE.abort("test teardown")


def runs(record):
    return record.list_runs(limit=100).items


def test_no_clearance_is_refused_before_any_document(session, devices):
    RE, cora, record, ids, documents = session
    rot, cam, _ = devices
    with pytest.raises(e.RunRequiresActiveClearanceError) as refused:
        RE(bp.scan([cam], rot, -1, 1, 3), subject_id=ids.subject)
    assert "register the facility's safety form" in refused.value.message
    assert documents == [] and runs(record) == []


def test_clearance_review_states_then_activation(session, devices, clock):
    RE, cora, record, ids, documents = session
    rot, cam, _ = devices
    plan = lambda: bp.scan([cam], rot, -1, 1, 3)  # noqa: E731
    first = record.register_clearance(form_type="aps-esaf", title="ESAF 1", subject_ids=[ids.subject])
    record.submit_clearance(first.id)
    perform(record, "start_clearance_review", first.id)
    with pytest.raises(e.RunClearanceCoverageMismatchError) as under_review:
        RE(plan(), subject_id=ids.subject)
    assert under_review.value.data["count"] == 1
    expired = activate_clearance(record, subject_ids=[ids.subject])
    perform(record, "expire_clearance", expired.id)
    with pytest.raises(e.RunClearanceCoverageMismatchError) as after_expiry:
        RE(plan(), subject_id=ids.subject)
    assert after_expiry.value.data["count"] == 2
    perform(record, "supersede_clearance", first.id, reason="amended form filed")
    with pytest.raises(e.RunClearanceCoverageMismatchError) as superseded:
        RE(plan(), subject_id=ids.subject)
    assert superseded.value.data["count"] == 2
    assert documents == [] and runs(record) == []
    activate_clearance(record, subject_ids=[ids.subject])
    RE(plan(), subject_id=ids.subject)  # the very same start, unchanged
    start = documents[0][1]
    run = record.get_run(start["cora_run_id"])
    assert run.subject_id == ids.subject and run.triggered_by == "jdoe"
    assert set(run.asset_ids) == {ids.stage, ids.camera}  # found through the device names


def test_a_side_run_starts_while_b_is_unsecured(session, devices, ioc):
    RE, cora, record, ids, documents = session
    _, _, mono = devices
    mono_plan = record.register_plan(name="mono_count", method_id=record.register_method(name="mono check").id,
                                     asset_ids=[ids.mono])
    activate_clearance(record, asset_ids=[ids.mono])
    ioc.put("B:SECURED", 0)
    RE(bp.count([mono]), cora_plan_id=mono_plan.id)
    assert documents[0][1]["cora_run_id"] == runs(record)[0].id


def test_hutch_declared_on_the_parent_is_in_scope(session, devices, ioc):
    RE, cora, record, ids, documents = session
    rot, cam, _ = devices
    activate_clearance(record, subject_ids=[ids.subject])
    stage, camera = record.get_asset(ids.stage), record.get_asset(ids.camera)
    # control: without the chain walk, neither device declares a hutch and the scope is empty
    assert {stage.enclosure_id, camera.enclosure_id} == {None}
    chain = {a: record.get_asset(a) for a in (ids.stage, ids.camera, ids.table)}
    assert enclosure_scope([ids.stage, ids.camera], chain) == (ids.hutch_b,)
    ioc.put("B:SECURED", 0)
    with pytest.raises(e.RunRequiresPermittedEnclosureError) as refused:
        RE(bp.scan([cam], rot, -1, 1, 3), subject_id=ids.subject)
    assert refused.value.data["hutches"] == ["2-BM-B"] and "not searched and secured" in refused.value.message
    assert documents == [] and runs(record) == []


def test_one_of_two_hutches_down_is_named(session, devices, ioc):
    RE, cora, record, ids, documents = session
    rot, cam, mono = devices
    activate_clearance(record, subject_ids=[ids.subject])
    ioc.put("A:SECURED", 0)
    with pytest.raises(e.RunEnclosureCoverageMismatchError) as refused:
        RE(bp.scan([cam, mono], rot, -1, 1, 3), subject_id=ids.subject)
    assert refused.value.data["hutches"] == ["2-BM-A"] and refused.value.data["permitted"] == ["2-BM-B"]
    ioc.put("B:SECURED", 0)
    with pytest.raises(e.RunRequiresPermittedEnclosureError) as all_down:
        RE(bp.scan([cam, mono], rot, -1, 1, 3), subject_id=ids.subject)
    assert sorted(all_down.value.data["hutches"]) == ["2-BM-A", "2-BM-B"]
    assert documents == []


def test_invalid_alarm_fails_closed(session, devices, ioc):
    RE, cora, record, ids, documents = session
    rot, cam, _ = devices
    activate_clearance(record, subject_ids=[ids.subject])
    ioc.put("B:SHUTTER_INVALID", 1)
    with pytest.raises(e.RunRequiresPermittedEnclosureError) as refused:
        RE(bp.scan([cam], rot, -1, 1, 3), subject_id=ids.subject)
    assert "INVALID" in refused.value.message
    ioc.put("B:SHUTTER_INVALID", 0)
    ioc.put("B:SHUTTER", 1)  # a closed shutter is not a refusal: dark fields are taken that way
    RE(bp.scan([cam], rot, -1, 1, 3), subject_id=ids.subject)
    assert len(runs(record)) == 1


def test_empty_scope_permits(session, devices, ioc):
    RE, cora, record, ids, documents = session
    bench = record.register_asset(name="offline bench", family="bench", device_names=["bench_det"])
    plan = record.register_plan(name="bench_count", method_id=record.register_method(name="bench").id, asset_ids=[bench.id])
    activate_clearance(record, asset_ids=[bench.id])
    ioc.put("A:SECURED", 0)
    ioc.put("B:SECURED", 0)
    RE(bp.count([SynAxis(name="bench_det")]), cora_plan_id=plan.id)
    assert len(runs(record)) == 1


def test_unregistered_plan_says_what_to_register(session, devices):
    RE, cora, record, ids, documents = session
    rot, cam, _ = devices
    with pytest.raises(e.PlanNotFoundError) as refused:
        RE(bp.rel_scan([cam], rot, -1, 1, 3))
    assert "rel_scan" in refused.value.message and "register" in refused.value.message
    assert documents == []


def test_refusal_still_runs_the_plans_cleanup(session, devices):
    RE, cora, record, ids, documents = session
    rot, cam, _ = devices
    cleaned = []

    def plan():
        yield from bpp.finalize_wrapper(bp.scan([cam], rot, -1, 1, 3), bps.null())
        cleaned.append(True)

    def tidy():
        cleaned.append("finalizer")
        yield from bps.null()

    with pytest.raises(e.RunRequiresActiveClearanceError):
        RE(bpp.finalize_wrapper(bp.scan([cam], rot, -1, 1, 3), tidy()))
    assert cleaned == ["finalizer"] and documents == []


def test_reserved_metadata_is_refused(session, devices):
    RE, cora, record, ids, documents = session
    rot, cam, _ = devices
    activate_clearance(record, subject_ids=[ids.subject])
    with pytest.raises(e.ReservedMetadataError):
        RE(bp.scan([cam], rot, -1, 1, 3), subject_id=ids.subject, cora_run_id="forged")
    assert documents == []


def test_procedure_inside_a_run_is_a_phase_of_it(session, devices):
    RE, cora, record, ids, documents = session
    rot, cam, _ = devices
    activate_clearance(record, subject_ids=[ids.subject])

    def tomography_with_alignment():
        @bpp.run_decorator(md={"plan_name": "scan", "detectors": ["cam"], "motors": ["rot"]})
        def outer():
            yield from bps.mv(rot, 0)
            align = procedure_wrapper(bp.count([cam], num=2), name="find rotation center", kind="alignment",
                                      target_devices=["rot"])
            yield from bpp.set_run_key_wrapper(align, "alignment")  # a nested run needs its own key
        yield from outer()

    RE(tomography_with_alignment(), subject_id=ids.subject)
    starts = [doc for name, doc in documents if name == "start"]
    assert "cora_run_id" in starts[0] and "cora_procedure_id" in starts[1]
    assert cora.flush(10)
    procedure = record.get_procedure(starts[1]["cora_procedure_id"])
    assert procedure.parent_run_id == starts[0]["cora_run_id"]
    assert procedure.target_asset_ids == (ids.stage,) and procedure.status == "Completed"
    assert record.get_run(starts[0]["cora_run_id"]).status == "Completed"


def test_the_runengines_metadata_validator_refuses_before_the_record_is_written(session, devices):
    RE, cora, record, ids, documents = session
    rot, cam, _ = devices
    activate_clearance(record, subject_ids=[ids.subject])

    def refuse(md):
        raise ValueError("sample_name is required by this beamline")

    RE.md_validator = refuse
    with pytest.raises(ValueError):
        RE(bp.scan([cam], rot, -1, 1, 3), subject_id=ids.subject)
    assert runs(record) == [] and documents == []


def test_a_run_the_runengine_cannot_open_is_aborted_in_the_record(session, devices):
    RE, cora, record, ids, documents = session
    activate_clearance(record, subject_ids=[ids.subject])

    def same_key_twice():
        yield Msg("open_run", run="k", subject_id=ids.subject)
        yield Msg("open_run", run="k", subject_id=ids.subject)

    record.register_plan(name="same_key_twice", method_id=ids.method, asset_ids=[ids.stage, ids.camera],
                         default_parameters={"exposure": 0.1})
    with pytest.raises(IllegalMessageSequence):
        RE(same_key_twice())
    statuses = sorted((run.status, run.last_reason or "") for run in runs(record))
    assert len(statuses) == 2 and statuses[0][0] == "Aborted"
    assert "the RunEngine did not open the run: IllegalMessageSequence" in statuses[0][1]
    assert [name for name, _ in documents].count("start") == 1


def test_install_once_per_runengine(session):
    RE, cora, record, ids, documents = session
    with pytest.raises(e.CoraAlreadyInstalledError):
        cora_bluesky.install(RE, record)


def test_manual_resume_re_earns_the_gates(session, devices, ioc):
    RE, cora, record, ids, documents = session
    rot, cam, _ = devices
    activate_clearance(record, subject_ids=[ids.subject])

    @bpp.run_decorator(md={"detectors": ["cam"]})
    def count_with_pause():
        yield from bps.trigger_and_read([cam])
        yield from bps.checkpoint()
        yield from bps.pause()
        yield from bps.trigger_and_read([cam])

    with pytest.raises(RunEngineInterrupted):
        RE(count_with_pause(), subject_id=ids.subject)
    assert RE.state == "paused"
    ioc.put("B:SECURED", 0)
    with pytest.raises(e.RunRequiresPermittedEnclosureError):
        RE.resume()
    assert RE.state == "paused"
    ioc.put("B:SECURED", 1)
    RE.resume()
    assert [doc["exit_status"] for name, doc in documents if name == "stop"] == ["success"]


def test_beam_dump_with_gated_resume(session, devices, clock):
    RE, cora, record, ids, documents = session
    rot, cam, _ = devices
    ring = Signal(name="ring_current", value=100.0)
    first = activate_clearance(record, subject_ids=[ids.subject])
    said: list[str] = []
    cora.supervisor(ring, floor=50, recheck=0.2, say=said.append)
    marks: dict[str, float] = {}

    def refused_on_return() -> bool:
        return any("RunClearanceCoverageMismatch" in line for line in said)

    def beamline_night():
        wait_for(lambda: any(name == "event" for name, _ in documents), 30, "the first event")
        ring.put(0.0)                       # beam dump
        wait_for(lambda: record.list_runs(status="Held").items, 30, "the dump recorded as a hold")
        perform(record, "expire_clearance", first.id)   # the form runs out during the dump
        ring.put(100.0)                     # beam back, but the run must stay suspended
        wait_for(refused_on_return, 30, "the supervisor to refuse the resume")
        marks["held"] = len(documents)
        ring.put(100.0)                     # the supervisor checks the gates again, in this thread
        marks["still_held"] = len(documents)
        marks["status"] = record.list_runs().items[0].status
        activate_clearance(record, subject_ids=[ids.subject])
        marks["activated"] = time.time()

    night = threading.Thread(target=beamline_night, daemon=True)
    night.start()
    RE(bp.count([cam], num=20, delay=0.05), subject_id=ids.subject)
    night.join(timeout=10)
    assert marks["held"] == marks["still_held"], "documents were emitted while the gates failed"
    assert refused_on_return() and marks["status"] == "Held"
    events = [doc for name, doc in documents if name == "event"]
    assert {doc["seq_num"] for doc in events} == set(range(1, 21))
    assert max(doc["time"] for doc in events) > marks["activated"]
    assert [doc["exit_status"] for name, doc in documents if name == "stop"] == ["success"]


def test_a_killed_ioc_fails_closed(session, devices):
    from support import PSSIoc

    RE, cora, record, ids, documents = session
    _, _, mono = devices
    spare = PSSIoc(spare_port=True)
    try:
        hutch = record.register_enclosure(name="2-BM-C", secured_pv=spare.pv("A:SECURED"))
        asset = record.register_asset(name="spare mono", family="monochromator", enclosure_id=hutch.id)
        plan = record.register_plan(name="spare_count", method_id=record.register_method(name="spare").id, asset_ids=[asset.id])
        activate_clearance(record, asset_ids=[asset.id])
        RE(bp.count([mono]), cora_plan_id=plan.id)  # reads the live IOC: permitted
    finally:
        spare.stop()

    def refusal():
        try:
            RE(bp.count([mono]), cora_plan_id=plan.id)
        except (e.RunRequiresPermittedEnclosureError, e.RunEnclosureCoverageMismatchError) as refused:
            return refused
        return None

    refused = wait_for(refusal, 10, "a dead PSS IOC to stop runs from starting", interval=0.3)
    assert refused.data["hutches"] == ["2-BM-C"] and "disconnected" in refused.message


def test_a_run_naming_another_esaf_than_the_one_in_force_is_refused(session, devices):
    """The metadata's ESAF must be the form in force: a typo or a stale profile refuses, not records."""
    RE, cora, record, ids, documents = session
    rot, cam, _ = devices
    form = activate_clearance(record, subject_ids=[ids.subject], form_number="271828")
    with pytest.raises(e.RunSafetyFormMismatchError) as refused:
        RE(bp.scan([cam], rot, -1, 1, 3), subject_id=ids.subject, esaf_id="314159")
    assert refused.value.data["safety_form"] == "314159" and "271828" in refused.value.message
    assert documents == [] and runs(record) == []
    (uid,) = RE(bp.scan([cam], rot, -1, 1, 3), subject_id=ids.subject, esaf_id=271828)  # numbers as profiles write them
    (started,) = runs(record)
    assert started.clearance_ids == (form.id,)
    assert [doc["cora_run_id"] for name, doc in documents if name == "start"] == [started.id]
