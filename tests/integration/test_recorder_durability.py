"""The recorder loses nothing: crashes at any moment, long outages, a full disk, damaged spools,
two sessions on one record."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import bluesky.plans as bp
import pytest
from bluesky import RunEngine, SupplementalData
from ophyd import Signal
from ophyd.sim import SynAxis, SynGauss
from support import SOFT_SIGNALS, build_beamline, wait_for

import cora_bluesky
from cora_bluesky.callbacks import spool as spooling
from cora_bluesky.storage.sqlite import SQLiteStore

HERE = Path(__file__).resolve().parent
#: Kill trials in CI; ``make soak`` sets more.
TRIALS = int(os.environ.get("CORA_CRASH_TRIALS", "8"))


def wait_until(condition, what: str, timeout: float = 120.0) -> None:
    wait_for(condition, timeout, what)


def beamline_record(path: Path):
    record = cora_bluesky.connect(f"sqlite:///{path}", permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    record.register_plan(name="count", method_id=record.register_method(name="counting").id, asset_ids=[ids.camera])
    return record, ids


def devices():
    rot = SynAxis(name="rot")
    return rot, SynGauss("cam", rot, "rot", center=0, Imax=1)


def readings_of(record):
    """Every run's readings keyed as the recorder keys them; fails on a duplicate."""
    rows = [row for run in record.list_runs(limit=500).items for row in record.list_run_readings(run.id)]
    ids = [row["event_id"] for row in rows]
    assert len(ids) == len(set(ids))
    return rows


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path):
    from crash_harness import trials, verdict

    db = tmp_path / "r.db"
    record, _ = beamline_record(db)
    record.close()
    uri = f"sqlite:///{db}"
    truths = trials(uri, tmp_path, TRIALS, seed=int(os.environ.get("CORA_CRASH_SEED", "13")))
    found = verdict(uri, db, truths)
    assert found["expected"] > 0 and found["runs_ended"] > 0, "the sessions recorded nothing to compare"
    assert found["lost"] == [] and found["duplicated"] == [] and found["wrong_status"] == []
    assert found["integrity"] == "ok"
    assert list((tmp_path / "spool").glob("*.spool")) == []  # every leftover replayed and discarded


def scan_with_baseline(RE, cam, subject, num=5, **kwargs):
    ring = Signal(name="ring_current", value=101.0)
    temp = Signal(name="sample_temp", value=290.0)
    RE.preprocessors.insert(0, SupplementalData(baseline=[ring, temp]))
    RE(bp.count([cam], num=num, **kwargs), subject_id=subject)


def assert_recorded_through_one_outage(cora, record, caplog) -> None:
    """After the outage of a 20-point scan with a 2-signal baseline: all of it, once, logged once."""
    assert cora.flush(120)
    (run,) = record.list_runs().items
    assert run.status == "Completed" and run.summary["events_per_stream"] == {"primary": 20, "baseline": 2}
    assert len(readings_of(record)) == 2 * 2
    said = [r.getMessage() for r in caplog.records if r.name.endswith("recorder")]
    assert len([m for m in said if "unavailable" in m]) == 1, said  # once per outage, not per attempt
    assert cora.recorder.failures == 0


@pytest.mark.slow
def test_an_outage_longer_than_every_timeout_loses_nothing_and_never_slows_the_scan(tmp_path, caplog):
    """Another process takes the SQLite write lock as the run opens and holds it for 45 s, past
    the store's 30 s busy timeout."""
    record, ids = beamline_record(tmp_path / "r.db")
    rot, cam = devices()
    RE = RunEngine({})
    cora = cora_bluesky.install(RE, record, spool=tmp_path / "spool", outside_hutches=SOFT_SIGNALS)
    blocker = sqlite3.connect(tmp_path / "r.db", isolation_level=None, timeout=30, check_same_thread=False)
    locked_at: list[float] = []

    def lock(name, doc):
        blocker.execute("BEGIN EXCLUSIVE")
        locked_at.append(time.monotonic())

    RE.subscribe(lock, "start")
    try:
        with caplog.at_level(logging.WARNING, logger="cora_bluesky.callbacks.recorder"):
            scan_with_baseline(RE, cam, ids.subject, num=20)
            # the RunEngine finished the scan while the record was still locked
            assert blocker.in_transaction and not cora.flush(0)
            wait_until(lambda: cora.recorder.outages == 1, "the recorder saw the busy timeout pass", 120)
            threading.Event().wait(max(0.0, 45 - (time.monotonic() - locked_at[0])))  # the outage lasts 45 s
            assert not cora.flush(0)
    finally:
        if blocker.in_transaction:
            blocker.execute("COMMIT")
        blocker.close()
    assert_recorded_through_one_outage(cora, record, caplog)


class FullDiskStore(SQLiteStore):
    """SQLite whose writes meet the real error of a full disk while ``full`` is set."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.full = threading.Event()
        self.refused = 0

    def _project(self, conn, row) -> None:
        if self.full.is_set():
            self.refused += 1
            raise sqlite3.OperationalError("database or disk is full")
        super()._project(conn, row)


def _small_tmpfs(folder: Path) -> bool:
    folder.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)],
                              capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def test_a_full_disk_loses_nothing(tmp_path):
    from cora_bluesky.application.record import Record

    disk = tmp_path / "disk"
    if _small_tmpfs(disk):  # a real disk that fills up, where the machine allows it
        try:
            _fill_a_real_disk(disk, tmp_path)
        finally:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)
        return
    store = FullDiskStore(tmp_path / "r.db")
    record = Record(store, permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    record.register_plan(name="count", method_id=record.register_method(name="counting").id, asset_ids=[ids.camera])
    rot, cam = devices()
    RE = RunEngine({})
    cora = cora_bluesky.install(RE, record, spool=tmp_path / "spool", outside_hutches=SOFT_SIGNALS)
    RE.subscribe(lambda name, doc: store.full.set(), "start")  # the disk fills once the run is open
    scan_with_baseline(RE, cam, ids.subject)
    wait_until(lambda: cora.recorder.outages == 1, "the recorder met the full disk")
    assert not cora.flush(0)
    store.full.clear()
    assert cora.flush(60)
    (run,) = record.list_runs().items
    assert run.status == "Completed" and len(readings_of(record)) == 4
    assert store.refused >= 1 and cora.recorder.failures == 0


def _fill_a_real_disk(disk: Path, tmp_path: Path) -> None:
    record, ids = beamline_record(disk / "r.db")
    rot, cam = devices()
    RE = RunEngine({})
    cora = cora_bluesky.install(RE, record, spool=tmp_path / "spool", outside_hutches=SOFT_SIGNALS)
    filler = disk / "filler"

    def fill_up(name, doc):  # the disk fills once the run is open
        fill = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fill, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fill)

    RE.subscribe(fill_up, "start")
    scan_with_baseline(RE, cam, ids.subject)
    wait_until(lambda: cora.recorder.outages == 1, "the recorder met the full disk")
    filler.unlink()
    assert cora.flush(60)
    (run,) = record.list_runs().items
    assert run.status == "Completed" and len(readings_of(record)) == 4
    assert cora.recorder.failures == 0
    assert cora.close(30)
    record.close()


def recorded_and_snapshot(tmp_path):
    """A session's scan, recorded; its spool's bytes; and a copy of the record taken when the
    scan's start document was emitted (its run Running, nothing else of it recorded)."""
    record, ids = beamline_record(tmp_path / "r.db")
    rot, cam = devices()
    RE = RunEngine({})
    cora = cora_bluesky.install(RE, record, spool=tmp_path / "first", outside_hutches=SOFT_SIGNALS)
    snapshot = tmp_path / "snapshot.db"

    def copy_at_start(name, doc):
        with sqlite3.connect(tmp_path / "r.db") as source, sqlite3.connect(snapshot) as target:
            source.backup(target)

    RE.subscribe(copy_at_start, "start")
    scan_with_baseline(RE, cam, ids.subject)
    assert cora.flush(30)
    data = cora.recorder.spool.path.read_bytes()
    (run,) = record.list_runs().items
    return record, run, data, snapshot


def test_a_torn_tail_is_cut_and_a_corrupt_record_skipped_with_a_warning(tmp_path, caplog):
    record, run, data, snapshot = recorded_and_snapshot(tmp_path)
    frames = [(begin, end, item) for verdict, begin, end, item in spooling.scan(data)]
    # one primary event in the middle damaged, and the last write torn by a kill
    begin, end, _ = next(f for f in frames if f[2][1] == "event" and "data" not in f[2][2])
    damaged = bytearray(data)
    damaged[end - 2] ^= 0xFF
    torn = spooling.frame(["state", "idle", "running", time.time()])[:-3]
    folder = tmp_path / "spool"
    folder.mkdir()
    left = folder / "00000000000000000001-1.spool"
    left.write_bytes(bytes(damaged) + torn)
    again = cora_bluesky.connect(f"sqlite:///{snapshot}")
    assert again.get_run(run.id).status == "Running" and not again.list_run_readings(run.id)
    with caplog.at_level(logging.WARNING, logger="cora_bluesky.callbacks.spool"):
        cora = cora_bluesky.install(RunEngine({}), again, spool=folder, outside_hutches=SOFT_SIGNALS)
        assert cora.flush(30)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "torn" in said and "do not verify" in said
    replayed = again.get_run(run.id)
    assert replayed.status == "Completed"
    # the damaged record was a primary event: one count is its only loss; what followed it is all there
    assert replayed.summary["events_per_stream"] == {"primary": 4, "baseline": 2}
    assert sorted(r["event_id"] for r in readings_of(again)) == sorted(r["event_id"] for r in readings_of(record))
    assert not left.exists() and (folder / left.with_suffix(".quarantine").name).read_bytes() == bytes(damaged[begin:end])
    assert cora.recorder.failures == 0


def test_two_sessions_on_one_record_each_keep_their_own_spool(tmp_path):
    record, ids = beamline_record(tmp_path / "r.db")
    spool = tmp_path / "spool"
    engines = [RunEngine({}, context_managers=[]) for _ in range(2)]
    handles = [cora_bluesky.install(RE, cora_bluesky.connect(f"sqlite:///{tmp_path / 'r.db'}",
                                                              permits=cora_bluesky.StaticPermits({"2-BM-B": True})),
                                    spool=spool, outside_hutches=SOFT_SIGNALS) for RE in engines]
    assert handles[0].recorder.spool.path != handles[1].recorder.spool.path
    started = [threading.Event() for _ in engines]
    for RE, seen in zip(engines, started):
        RE.subscribe(lambda name, doc, seen=seen: seen.set(), "start")
    threads = [threading.Thread(target=scan_with_baseline, args=(RE, devices()[1], ids.subject),
                                kwargs={"num": 30, "delay": 0.01}) for RE in engines]
    for thread in threads:
        thread.start()
    wait_until(lambda: all(seen.is_set() for seen in started), "both runs started")
    blocker = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # both sessions spool while the record is away
    try:
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)  # neither scan waited for the record
        assert not any(cora.flush(0) for cora in handles)
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    assert all(cora.close(120) for cora in handles)
    runs = record.list_runs().items
    assert len(runs) == 2 and all(run.status == "Completed" for run in runs)
    assert all(run.summary["events_per_stream"] == {"primary": 30, "baseline": 2} for run in runs)
    assert len(readings_of(record)) == 2 * 2 * 2
    assert list(spool.glob("*.spool")) == []


def test_a_spool_locked_by_a_live_session_is_not_replayed(tmp_path):
    folder = tmp_path / "spool"
    alive = spooling.Spool(folder)
    alive.append(["state", "running", "idle", time.time()])
    other = spooling.Spool(folder)
    assert other.leftovers() == []  # still locked: its session lives
    alive.close()  # not everything acknowledged: the file stays for a replay
    assert alive.path.exists()
    (leftover,) = other.leftovers()
    assert [item[0] for _, item in leftover.items()] == ["state"]
    leftover.discard()
    other.close()
    assert list(folder.glob("*.spool")) == []


def test_a_replay_resumes_with_what_was_known_where_it_starts(tmp_path):
    """The spool was acknowledged while the RunEngine ran, before the operator gave a reason."""
    record, ids = beamline_record(tmp_path / "r.db")
    run = record.start_run(name="by hand", plan_id=ids.plan, subject_id=ids.subject)
    now = time.time()
    folder = tmp_path / "spool"
    folder.mkdir()
    left = folder / "00000000000000000001-1.spool"
    acknowledged = [["state", "running", "idle", now]]
    items = [
        ["document", "start", {"uid": "s1", "time": now, "cora_run_id": run.id}, now],
        ["reason", "stop", "enough data for the reconstruction", now + 1],
        ["state", "stopping", "running", now + 2],
        ["document", "stop", {"uid": "t1", "run_start": "s1", "time": now + 3, "exit_status": "success"}, now + 3],
        ["state", "idle", "stopping", now + 4],
    ]
    done = b"".join(spooling.frame(item) for item in acknowledged)
    left.write_bytes(done + b"".join(spooling.frame(item) for item in items))
    left.with_suffix(".acked").write_text(json.dumps({"offset": len(done), "context": {"state": "running"}}))
    cora = cora_bluesky.install(RunEngine({}), record, spool=folder, outside_hutches=SOFT_SIGNALS)
    assert cora.flush(30)
    ended = record.get_run(run.id)
    assert (ended.status, ended.last_reason) == ("Stopped", "enough data for the reconstruction")


def test_a_spool_of_the_single_file_layout_is_adopted(tmp_path):
    folder = tmp_path / "spool"
    folder.mkdir()
    recorded = json.dumps(["state", "running", "idle", 1.0]) + "\n"
    waiting = [["state", "paused", "running", 2.0], ["reason", "stop", "enough", 3.0]]
    (folder / "items.jsonl").write_text(recorded + "".join(json.dumps(item) + "\n" for item in waiting))
    (folder / "acked").write_text(str(len(recorded)))
    spool = spooling.Spool(folder)
    (leftover,) = spool.leftovers()
    assert [item for _, item in leftover.items()] == waiting
    leftover.discard()
    spool.close()
    assert sorted(path.name for path in folder.iterdir()) == []


#: Every command the MongoDB store sends, failed together while the server is "down".
MONGODB_COMMANDS = ["insert", "update", "delete", "find", "aggregate", "findAndModify", "getMore", "count",
                    "distinct", "commitTransaction", "abortTransaction", "listIndexes", "createIndexes"]


@pytest.mark.slow
@pytest.mark.parametrize("failure", [{"errorCode": 91}, {"closeConnection": True}], ids=["shutting-down", "dropped"])
def test_a_mongodb_outage_loses_nothing_and_never_slows_the_scan(tmp_path, mongodb_uri, failure, caplog):
    """The real wire-protocol server fails every command once the run's devices are in, past the
    store's own retries, until the RunEngine has finished; then it serves again."""
    from pymongo import MongoClient

    record = cora_bluesky.connect(mongodb_uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    record.register_plan(name="count", method_id=record.register_method(name="counting").id, asset_ids=[ids.camera])
    rot, cam = devices()
    RE = RunEngine({})
    cora = cora_bluesky.install(RE, record, spool=tmp_path / "spool", outside_hutches=SOFT_SIGNALS)
    admin = MongoClient(mongodb_uri, serverSelectionTimeoutMS=5000).admin
    armed, primary = threading.Event(), set()

    def outage(name, doc):  # at the first primary event every device of the run is admitted
        if name == "descriptor" and doc["name"] == "primary":
            primary.add(doc["uid"])
        if name == "event" and doc["descriptor"] in primary and not armed.is_set():
            admin.command("configureFailPoint", "failCommand", mode="alwaysOn",
                          data={"failCommands": MONGODB_COMMANDS, **failure})
            armed.set()

    RE.subscribe(outage)
    try:
        with caplog.at_level(logging.WARNING, logger="cora_bluesky.callbacks.recorder"):
            scan_with_baseline(RE, cam, ids.subject, num=20)
            assert armed.is_set() and not cora.flush(0)  # the scan finished while the store was down
            wait_until(lambda: cora.recorder.outages >= 1, "the recorder met the outage")
    finally:
        admin.command("configureFailPoint", "failCommand", mode="off")
    assert_recorded_through_one_outage(cora, record, caplog)
    cora.close(10)
    record.close()
