"""The SQLite file itself: two writing processes, append-only tables, schema versions, defaults."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest
from support import build_beamline, staff, wait_for

import cora_bluesky
from cora_bluesky.domain import errors as e
from cora_bluesky.storage import sqlite_path
from cora_bluesky.storage.sqlite_schema import MIGRATIONS

ROUNDS = 25


def _writer(uri: str, run_id: str, tag: str, ready, go) -> None:
    record = cora_bluesky.connect(uri, principal=tag)
    ready.wait()
    go.wait()
    for i in range(ROUNDS):
        record.adjust_run(run_id, parameter_patch={"exposure": 0.1 + i / 1000}, reason=f"{tag} step {i}")
        record.append_run_readings(run_id, [
            {"event_id": f"{tag}-{i}-{k}", "channel_name": "I0", "value": float(k),
             "sampling_procedure": "monitor", "sampled_at": record.now()} for k in range(10)
        ])
    record.close()


@pytest.fixture
def uri(tmp_path):
    return f"sqlite:///{tmp_path / 'shared.db'}"


def test_two_processes_write_one_run_without_losing_anything(uri):
    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    staff(record, re=("operator",), server=("operator",))  # the RunEngine's and the server's principals
    run = record.start_run(name="shared", plan_id=ids.plan, subject_id=ids.subject)
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Barrier(3), ctx.Event()
    workers = [ctx.Process(target=_writer, args=(uri, run.id, tag, ready, go)) for tag in ("re", "server")]
    for worker in workers:
        worker.start()
    ready.wait()
    go.set()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    final = record.get_run(run.id)
    assert final.adjustment_count == 2 * ROUNDS
    events = record.history("run", run.id)
    assert [ev.version for ev in events] == list(range(1, len(events) + 1))
    assert {ev.actor for ev in events[2:]} == {"re", "server"}
    assert len(record.list_run_readings(run.id)) == 2 * ROUNDS * 10


def test_events_and_logbooks_are_append_only(uri):
    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    run = record.start_run(name="x", plan_id=ids.plan, subject_id=ids.subject)
    record.append_run_reading(run.id, channel_name="I0", value=1.0, sampling_procedure="baseline", sampled_at=record.now())
    conn = sqlite3.connect(sqlite_path(uri))
    for statement in (
        "UPDATE events SET payload = '{}'",
        "DELETE FROM events",
        "UPDATE entries_run_readings SET value = 0",
        "DELETE FROM entries_run_readings",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement)
    conn.close()


def test_get_folds_the_stream_when_no_projection_exists(uri):
    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    run = record.start_run(name="x", plan_id=ids.plan, subject_id=ids.subject)
    record.hold_run(run.id)
    expected = record.get_run(run.id)
    conn = sqlite3.connect(sqlite_path(uri))
    conn.execute("DELETE FROM projections WHERE kind = 'run'")
    conn.commit()
    conn.close()
    assert record.get_run(run.id) == expected
    record.resume_run(run.id)  # writing re-projects from the folded state
    assert record.list_runs().items[0].status == "Running"


def test_a_newer_schema_is_refused_clearly(uri):
    cora_bluesky.connect(uri).close()
    conn = sqlite3.connect(sqlite_path(uri))
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(e.StoreError, match="upgrade cora-bluesky"):
        cora_bluesky.connect(uri)


def test_reopening_keeps_everything(uri):
    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    run = record.start_run(name="x", plan_id=ids.plan, subject_id=ids.subject)
    record.close()
    again = cora_bluesky.connect(uri)
    assert again.get_run(run.id).name == "x"
    assert again.store.schema_version == len(MIGRATIONS)


def test_default_uri_comes_from_the_environment_or_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("CORA_URI", f"sqlite:///{tmp_path / 'env.db'}")
    cora_bluesky.connect().close()
    assert (tmp_path / "env.db").exists()
    monkeypatch.delenv("CORA_URI")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    cora_bluesky.connect().close()
    assert (tmp_path / "data" / "cora-bluesky" / "record.db").exists()


@pytest.mark.parametrize("uri", ["postgres://x/y", "sqlite://", "nonsense"])
def test_unknown_uris_are_refused(uri):
    with pytest.raises(e.StoreError):
        cora_bluesky.connect(uri)


def test_the_wal_is_checkpointed_off_the_write_path_and_stays_bounded(uri):
    import os
    import struct

    def checkpointed() -> bool:
        # the wal-index: mxFrame (frames in the WAL) at byte 16, nBackfill (frames copied back) at 96
        with open(f"{path}-shm", "rb") as shm:
            index = shm.read(100)
        frames, backfilled = struct.unpack_from("=I", index, 16)[0], struct.unpack_from("=I", index, 96)[0]
        return backfilled >= frames

    record = staff(cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True})))
    path = sqlite_path(uri)
    assert record.store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    sizes = []
    for round_ in range(6):
        for n in range(300):
            record.register_subject(name=f"sample {round_}-{n}")
        wait_for(checkpointed, 30, "the checkpointer to copy the WAL back")
        sizes.append(os.path.getsize(f"{path}-wal"))
    record.close()
    # frames are reused once checkpointed: without the checkpointer the WAL grows every round
    assert sizes[-1] <= sizes[1] * 1.5, sizes
    reopened = cora_bluesky.connect(uri)
    assert len(reopened.list_subjects(limit=500).items) == 500
    reopened.close()
