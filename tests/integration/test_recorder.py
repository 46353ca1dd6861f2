"""The recorder with a real RunEngine and ophyd sim devices: lifecycles, readings, re-delivery."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import pytest
from bluesky import RunEngine, SupplementalData
from bluesky.suspenders import SuspendFloor
from bluesky.utils import RunEngineInterrupted
from ophyd import Signal
from ophyd.sim import SynAxis, SynGauss
from support import SOFT_SIGNALS, build_beamline, staff, wait_for

import cora_bluesky
from cora_bluesky.callbacks import CoraRecorder
from cora_bluesky.callbacks import spool as spooling
from cora_bluesky.plans import procedure_wrapper


@pytest.fixture
def rig(tmp_path):
    record = cora_bluesky.connect(f"sqlite:///{tmp_path / 'r.db'}", permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    counting = record.register_method(name="counting", needed_families=["camera"])
    for name in ("count", "scan", "pausing"):
        record.register_plan(name=name, method_id=counting.id)
    rot = SynAxis(name="rot")
    cam = SynGauss("cam", rot, "rot", center=0, Imax=1)
    RE = RunEngine({}, call_returns_result=False)
    cora = cora_bluesky.install(RE, record, outside_hutches=SOFT_SIGNALS)
    documents: list = []
    RE.subscribe(lambda name, doc: documents.append((name, doc)))
    yield RE, cora, record, ids, rot, cam, documents
    if RE.state != "idle":
        RE.abort("teardown")
    record.close()


def the_run(cora, record):
    assert cora.flush(10)
    (run,) = record.list_runs().items
    return run


def event_types(record, run):
    return [ev.event_type for ev in record.history("run", run.id)]


@bpp.run_decorator(md={"plan_name": "pausing", "detectors": ["cam"]})
def pausing(cam):
    yield from bps.trigger_and_read([cam])
    yield from bps.checkpoint()
    yield from bps.pause()
    yield from bps.trigger_and_read([cam])


def test_a_finished_scan_completes(rig):
    RE, cora, record, ids, rot, cam, _ = rig
    (uid,) = RE(bp.scan([cam], rot, -1, 1, 5), subject_id=ids.subject)
    run = the_run(cora, record)
    assert run.status == "Completed"
    assert event_types(record, run) == [
        "RunStarted", "RunDatasetLinked", "RunDatasetSealed", "RunSummarized", "RunCompleted"
    ]
    assert [(d.start_uid, d.uri) for d in run.datasets] == [(uid, f"bluesky://run/{uid}")]
    assert run.summary["events_per_stream"] == {"primary": 5}
    assert run.summary["holds"] == 0 and run.summary["time_held_s"] == 0 and run.summary["duration_s"] > 0


def test_pause_and_resume_are_a_hold(rig):
    RE, cora, record, ids, rot, cam, _ = rig
    with pytest.raises(RunEngineInterrupted):
        RE(pausing(cam), subject_id=ids.subject)
    assert the_run(cora, record).status == "Held"
    RE.resume()
    run = the_run(cora, record)
    assert run.status == "Completed"
    assert event_types(record, run) == [
        "RunStarted", "RunDatasetLinked", "RunHeld", "RunResumed", "RunDatasetSealed", "RunSummarized", "RunCompleted"
    ]


@pytest.mark.parametrize(
    "ending, status, reason",
    [
        (lambda RE, cora: cora.stop("enough data for the reconstruction"), "Stopped", "enough data for the reconstruction"),
        (lambda RE, cora: RE.stop(), "Stopped", "RE.stop() was called; no reason reached the record"),
        (lambda RE, cora: cora.abort("sample moved"), "Aborted", "sample moved"),
        (lambda RE, cora: RE.abort(), "Aborted", "RE.abort() was called; no reason reached the record"),
        # bluesky 1.15 puts an empty reason in the stop document: the record cannot know it
        (lambda RE, cora: RE.abort("sample moved"), "Aborted", "RE.abort() was called; no reason reached the record"),
        (lambda RE, cora: RE.halt(), "Aborted", "RE.halt() was called; no reason reached the record"),
    ],
)
def test_endings_from_the_console_keep_or_admit_their_reason(rig, ending, status, reason):
    RE, cora, record, ids, rot, cam, _ = rig
    with pytest.raises(RunEngineInterrupted):
        RE(pausing(cam), subject_id=ids.subject)
    ending(RE, cora)
    run = the_run(cora, record)
    assert (run.status, run.last_reason) == (status, reason)


def test_a_failing_plan_aborts_with_its_message(rig):
    RE, cora, record, ids, rot, cam, _ = rig

    @bpp.run_decorator(md={"plan_name": "count", "detectors": ["cam"]})
    def failing():
        yield from bps.trigger_and_read([cam])
        raise ValueError("detector saturated")

    with pytest.raises(ValueError):
        RE(failing(), subject_id=ids.subject)
    run = the_run(cora, record)
    assert run.status == "Aborted" and "detector saturated" in run.last_reason


def test_a_suspension_is_a_hold_at_the_moments_it_happened(rig):
    RE, cora, record, ids, rot, cam, documents = rig
    ring = Signal(name="ring_current", value=100.0)
    RE.install_suspender(SuspendFloor(ring, 50))

    def dump():
        try:
            wait_for(lambda: any(name == "event" for name, _ in documents), 30, "the first event")
            ring.put(0.0)
            wait_for(lambda: record.list_runs(status="Held").items, 30, "the suspension recorded as a hold")
        finally:
            ring.put(100.0)  # whatever happened, the RunEngine does not stay suspended

    threading.Thread(target=dump, daemon=True).start()
    RE(bp.count([cam], num=10, delay=0.05), subject_id=ids.subject)
    run = the_run(cora, record)
    events = record.history("run", run.id)
    assert [ev.event_type for ev in events] == [
        "RunStarted", "RunDatasetLinked", "RunHeld", "RunResumed", "RunDatasetSealed", "RunSummarized", "RunCompleted"
    ]
    held, resumed = (datetime.fromisoformat(ev.occurred_at) for ev in events[2:4])
    assert held < resumed
    # the rewind re-emitted events; each seq_num counts once, and the time held is on the run
    assert run.summary["events_per_stream"] == {"primary": 10}
    assert run.summary["holds"] == 1
    assert run.summary["time_held_s"] == pytest.approx((resumed - held).total_seconds(), abs=1e-5)


class MilliampSignal(Signal):
    """A soft signal that describes its units, as an EPICS one would."""

    def describe(self):
        description = super().describe()
        description[self.name]["units"] = "mA"
        return description


def test_baseline_and_monitor_readings_with_rejections_counted(rig):
    RE, cora, record, ids, rot, cam, documents = rig
    ring = MilliampSignal(name="ring_current", value=102.3)
    broken = Signal(name="broken_gauge", value=float("nan"))
    temp = Signal(name="sample_temp", value=295.0)
    RE.preprocessors.insert(0, SupplementalData(baseline=[ring, broken], monitors=[temp]))

    def monitored() -> list[float]:
        return [doc["data"]["sample_temp"] for name, doc in documents if name == "event" and "sample_temp" in doc["data"]]

    def warming():
        # the monitor is subscribed once its descriptor is out; each value is put once the last was seen
        wait_for(lambda: any(name == "descriptor" and doc["name"] == "sample_temp_monitor" for name, doc in documents),
                 30, "the monitor's descriptor")
        for value in (296.0, 297.0):
            temp.put(value)
            wait_for(lambda: value in monitored(), 30, f"the monitor event of {value}")

    threading.Thread(target=warming, daemon=True).start()
    RE(bp.count([cam], num=8, delay=0.1), subject_id=ids.subject)
    run = the_run(cora, record)
    rows = record.list_run_readings(run.id)
    baseline = [(r["channel_name"], r["value"], r["units"]) for r in rows if r["sampling_procedure"] == "baseline"]
    assert baseline == [("ring_current", 102.3, "mA"), ("ring_current", 102.3, "mA")]
    monitor = [r["value"] for r in rows if r["sampling_procedure"] == "monitor"]
    assert {296.0, 297.0} <= set(monitor)
    assert all(r["channel_name"] == "sample_temp" for r in rows if r["sampling_procedure"] == "monitor")
    assert run.summary["rejected_readings"] == 2  # the NaN gauge at both ends of the run, counted


def test_documents_fed_twice_are_recorded_once_and_quietly(rig, caplog):
    RE, cora, record, ids, rot, cam, documents = rig
    ring = Signal(name="ring_current", value=99.0)
    RE.preprocessors.insert(0, SupplementalData(baseline=[ring]))
    RE(bp.count([cam], num=3), subject_id=ids.subject)
    run = the_run(cora, record)
    again = CoraRecorder(record)
    with caplog.at_level("INFO"):
        for name, doc in documents:
            again(name, doc)
        assert again.flush(10)
    assert len(record.list_run_readings(run.id)) == 2
    assert event_types(record, run) == [
        "RunStarted", "RunDatasetLinked", "RunReadingLogbookOpened", "RunDatasetSealed", "RunSummarized", "RunCompleted"
    ]
    # a re-delivery meets what is already recorded: nothing refused, nothing said at ERROR
    assert again.failures == 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_procedures_complete_or_abort(rig):
    RE, cora, record, ids, rot, cam, _ = rig
    align = procedure_wrapper(bp.count([cam], num=2), name="find rotation center", kind="alignment",
                              target_asset_ids=[ids.stage])
    RE(align)
    assert cora.flush(10)
    (done,) = record.list_procedures().items
    assert done.status == "Completed"

    @bpp.run_decorator(md={})
    def broken():
        yield from bps.trigger_and_read([cam])
        raise RuntimeError("stage limit switch")

    with pytest.raises(RuntimeError):
        RE(procedure_wrapper(broken(), name="align", kind="alignment", target_asset_ids=[ids.stage]))
    assert cora.flush(10)
    statuses = sorted(p.status for p in record.list_procedures().items)
    assert statuses == ["Aborted", "Completed"]


def test_hooks_already_on_the_runengine_are_kept(tmp_path):
    RE = RunEngine({})
    seen = []
    RE.state_hook = lambda new, old: seen.append(new)
    record = staff(cora_bluesky.connect(f"sqlite:///{tmp_path / 'r.db'}"))
    cora_bluesky.install(RE, record, outside_hutches=SOFT_SIGNALS)
    RE.state_hook("running", "idle")
    assert seen == ["running"]


def test_a_locked_store_neither_blocks_the_scan_nor_loses_documents(rig, tmp_path):
    import sqlite3

    RE, cora, record, ids, rot, cam, documents = rig
    ring = Signal(name="ring_current", value=101.0)
    RE.preprocessors.insert(0, SupplementalData(baseline=[ring]))
    locked, ended_while_locked = threading.Event(), threading.Event()

    def lock_during_scan():
        blocker = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
        try:
            wait_for(lambda: any(name == "start" for name, _ in documents), 30, "the start document")
            blocker.execute("BEGIN EXCLUSIVE")  # another process holds the file
            locked.set()
            # held until the scan has ended: a RunEngine waiting for the record would never end it
            wait_for(lambda: any(name == "stop" for name, _ in documents), 30, "the scan to end while the store is locked")
            ended_while_locked.set()
        finally:
            if blocker.in_transaction:
                blocker.execute("COMMIT")
            blocker.close()

    locker = threading.Thread(target=lock_during_scan, daemon=True)
    locker.start()
    RE(bp.count([cam], num=5), subject_id=ids.subject)
    locker.join()
    assert locked.is_set() and ended_while_locked.is_set(), "the RunEngine waited for the record"
    run = the_run(cora, record)
    assert run.status == "Completed" and len(record.list_run_readings(run.id)) == 2


def test_a_killed_runengine_is_replayed_from_the_spool_and_left_for_a_person(tmp_path):
    import signal
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    uri, spool = f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "spool"
    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    record.register_plan(name="count", method_id=record.register_method(name="counting").id, asset_ids=[ids.camera])
    script = Path(__file__).with_name("crashing_session.py")
    child = subprocess.Popen([sys.executable, str(script), uri, str(spool)])
    blocker = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
    try:
        wait_for(lambda: record.list_runs().items or child.poll() is not None, 60, "the session to start its run")
        assert child.poll() is None, "the session died before it started its run"
        blocker.execute("BEGIN EXCLUSIVE")  # the record goes away: documents pile up in the spool

        def spooled() -> bytes:
            return b"".join(path.read_bytes() for path in sorted(spool.glob("*.spool")))

        def monitor_reading_spooled_since(offset: int) -> bool:
            return any(item is not None and "sample_temp" in json.dumps(item, default=str)
                       for _, _, _, item in spooling.scan(spooled(), offset))

        locked_at = len(spooled())
        wait_for(lambda: monitor_reading_spooled_since(locked_at), 30, "a reading spooled while the record is locked")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if blocker.in_transaction:
            blocker.execute("COMMIT")
        blocker.close()
    (run,) = record.list_runs().items
    before = len(record.list_run_readings(run.id))
    (left,) = spool.glob("*.spool")
    acked = left.with_suffix(".acked")
    assert left.stat().st_size > (json.loads(acked.read_text())["offset"] if acked.exists() else 0)

    RE = RunEngine({})
    cora = cora_bluesky.install(RE, record, spool=spool, outside_hutches=SOFT_SIGNALS)
    assert cora.flush(30)
    after = record.list_run_readings(run.id)
    assert len(after) > before, "nothing spooled during the outage was replayed"
    assert len({row["event_id"] for row in after}) == len(after)
    assert record.get_run(run.id).status == "Running"  # nothing closes a dead run by itself
    from datetime import timedelta

    ((stale, last_seen),) = record.stale_runs(idle_for=timedelta(0))
    assert stale.id == run.id
    ended = record.truncate_run(run.id, reason="control workstation killed", interrupted_at=last_seen)
    assert ended.status == "Truncated"
    assert not left.exists() and not acked.exists()  # replayed to the end, then discarded


# --- when the record and the RunEngine could disagree --------------------------------------


def test_a_pause_while_runs_are_nested_holds_every_open_run(rig):
    RE, cora, record, ids, rot, cam, _ = rig

    @bpp.set_run_key_decorator("inner")
    @bpp.run_decorator(md={"plan_name": "count", "detectors": ["cam"]})
    def inner():
        yield from bps.trigger_and_read([cam])
        yield from bps.checkpoint()
        yield from bps.pause()
        yield from bps.trigger_and_read([cam])

    @bpp.set_run_key_decorator("outer")
    @bpp.run_decorator(md={"plan_name": "scan", "detectors": ["cam"]})
    def outer():
        yield from bps.trigger_and_read([cam])
        yield from inner()

    with pytest.raises(RunEngineInterrupted):
        RE(outer(), subject_id=ids.subject)
    assert cora.flush(10)
    runs = record.list_runs().items
    assert len(runs) == 2 and {run.status for run in runs} == {"Held"}
    RE.resume()
    assert cora.flush(10)
    runs = record.list_runs().items
    assert len(runs) == 2
    for run in runs:
        assert run.status == "Completed" and run.summary["holds"] == 1
        assert event_types(record, run).count("RunResumed") == 1


def test_a_run_held_from_outside_and_completed_by_the_runengine_does_not_stay_held(rig):
    from cora_bluesky.callbacks.recorder import COMPLETED_WHILE_HELD

    RE, cora, record, ids, rot, cam, _ = rig
    # an operator holds the run in the record (as over HTTP) while the RunEngine executes it
    RE.subscribe(lambda name, doc: record.hold_run(doc["cora_run_id"]), "start")
    RE(bp.count([cam], num=3), subject_id=ids.subject)
    run = the_run(cora, record)
    assert (run.status, run.last_reason) == ("Aborted", COMPLETED_WHILE_HELD)
    assert run.summary["events_per_stream"] == {"primary": 3}
    assert "RunResumed" not in event_types(record, run)  # the RunEngine never resumed it
    assert cora.recorder.failures == 0


def test_an_emitted_start_is_recorded_as_opened_though_a_callback_raised(tmp_path):
    record = cora_bluesky.connect(f"sqlite:///{tmp_path / 'r.db'}", permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    record.register_plan(name="count", method_id=record.register_method(name="counting").id, asset_ids=[ids.camera])
    RE = RunEngine({})
    RE.ignore_callback_exceptions = False

    def broken(name, doc):
        raise RuntimeError("a broken live plot")

    RE.subscribe(broken, "start")  # subscribed before cora, as in a profile
    cora = cora_bluesky.install(RE, record, outside_hutches=SOFT_SIGNALS)
    emitted = []
    RE.subscribe(lambda name, doc: emitted.append(name))
    with pytest.raises(RuntimeError):
        RE(bp.count([SynGauss("cam", SynAxis(name="rot"), "rot", center=0, Imax=1)], num=2), subject_id=ids.subject)
    run = the_run(cora, record)
    assert emitted[-1] == "stop"
    assert [d.start_uid for d in run.datasets] != []  # it opened: its Bluesky run is linked
    assert run.status == "Aborted" and "a broken live plot" in run.last_reason


def test_a_reason_given_while_nothing_runs_expires(rig):
    from bluesky.utils import TransitionError

    RE, cora, record, ids, rot, cam, _ = rig
    with pytest.raises(TransitionError):
        cora.stop("a reason for nothing")
    cora.recorder.give_reason("stop", "another reason for nothing")  # even if it reached the recorder
    with pytest.raises(RunEngineInterrupted):
        RE(pausing(cam), subject_id=ids.subject)
    RE.stop()
    run = the_run(cora, record)
    assert (run.status, run.last_reason) == ("Stopped", "RE.stop() was called; no reason reached the record")


class DescribedSignal(Signal):
    """A soft signal that describes its units, as an EPICS one would (``''`` for a blank EGU)."""

    def __init__(self, *args, units, **kwargs):
        super().__init__(*args, **kwargs)
        self._units = units

    def describe(self):
        description = super().describe()
        description[self.name]["units"] = self._units
        return description


def test_one_bad_value_costs_only_itself(rig):
    RE, cora, record, ids, rot, cam, _ = rig
    blank = DescribedSignal(name="motor_position", value=1.5, units="")
    ring = DescribedSignal(name="ring_current", value=102.0, units="mA")
    long_key = "x" * 90 + "_readback"
    far = DescribedSignal(name=long_key, value=7.0, units="mm")
    garbled = DescribedSignal(name="garbled_units", value=3.0, units="u" * 80)
    RE.preprocessors.insert(0, SupplementalData(baseline=[blank, ring, far, garbled]))
    RE(bp.count([cam], num=2), subject_id=ids.subject)
    run = the_run(cora, record)
    rows = record.list_run_readings(run.id)
    kept = sorted({(r["channel_name"], r["units"]) for r in rows})
    assert kept == [("motor_position", None), ("ring_current", "mA"), (long_key, "mm")]
    assert len(rows) == 3 * 2 and all(len(r["event_id"]) <= 100 for r in rows)
    assert run.summary["rejected_readings"] == 2  # the garbled units, at both ends of the run
    assert cora.recorder.failures == 0


def test_monitor_samples_are_kept_and_rewind_duplicates_dropped(rig):
    RE, cora, record, ids, rot, cam, _ = rig
    run = record.start_run(name="fed by hand", plan_id=ids.plan, subject_id=ids.subject)
    recorder = CoraRecorder(record)
    now = time.time()
    recorder("start", {"uid": "s1", "time": now, "cora_run_id": run.id})
    recorder("descriptor", {"uid": "d1", "run_start": "s1", "name": "sample_temp_monitor", "time": now,
                            "data_keys": {"sample_temp": {"dtype": "number", "source": "SIM:", "shape": []}}})
    first = {"uid": "e1", "descriptor": "d1", "seq_num": 1, "time": now,
             "data": {"sample_temp": 290.0}, "timestamps": {"sample_temp": now - 5}}
    # as a monitor starts, bluesky may emit a second event with seq_num 1: a new sample
    second = {**first, "uid": "e2", "data": {"sample_temp": 290.5}, "timestamps": {"sample_temp": now}}
    # a rewind re-emits an event: a new uid, the same seq_num, the same sample
    again = {**second, "uid": "e3"}
    for event in (first, second, again):
        recorder("event", event)
    recorder("stop", {"uid": "t1", "run_start": "s1", "time": now + 1, "exit_status": "success"})
    # the monitor's callback, on its own thread, can emit one more event just after the stop
    recorder("event", {**first, "uid": "e4", "seq_num": 2, "data": {"sample_temp": 291.0},
                       "timestamps": {"sample_temp": now + 0.5}})
    recorder.state_hook("idle", "running")
    assert recorder.flush(10)
    assert sorted(r["value"] for r in record.list_run_readings(run.id)) == [290.0, 290.5, 291.0]
    ended = record.get_run(run.id)
    assert ended.status == "Completed" and ended.summary["events_per_stream"] == {"sample_temp_monitor": 3}
