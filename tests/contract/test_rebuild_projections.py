"""``cora rebuild-projections``: every projection row rebuilt from the streams, on every store."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from support import build_beamline

from cora_bluesky import CalibrationSource, cli
from cora_bluesky.application.aggregates import RUN
from cora_bluesky.application.rebuilding import rebuild_projections
from cora_bluesky.storage import sqlite_path


def _rows(store) -> dict:
    return {(row.kind, row.id): row for row in store.dump_projections()}


def _busy_record(record, clock) -> dict:
    """A record with rows of every shape: held, adjusted, ended runs, references, calibrations."""
    ids = build_beamline(record)
    runs = [record.start_run(name=f"scan {n}", plan_id=ids.plan, subject_id=ids.subject).id for n in range(3)]
    record.hold_run(runs[0])
    clock.advance(seconds=90)
    record.resume_run(runs[0])
    record.adjust_run(runs[0], parameter_patch={"exposure": 0.25}, reason="too dark")
    record.complete_run(runs[0])
    record.hold_run(runs[1])
    record.abort_run(runs[2], reason="beam lost")
    record.record_calibration(
        asset_id=ids.stage, quantity="center", value=1.5, units="mm", source=CalibrationSource.asserted("ana")
    )
    return {"runs": runs, "ids": ids}


def _damage(uri: str, made: dict) -> None:
    """Delete some rows and corrupt others behind the record's back: status, document, dates, refs."""
    held, aborted = made["runs"][1], made["runs"][2]
    if uri.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(uri))
        with conn:
            conn.execute("DELETE FROM projections WHERE kind = 'run' AND id = ?", (made["runs"][0],))
            conn.execute("DELETE FROM projections WHERE kind = 'subject'")
            conn.execute(
                "UPDATE projections SET status = 'Running', doc = json_set(doc, '$.hold_count', 7),"
                " created_at = '1999-01-01T00:00:00.000000+00:00' WHERE kind = 'run' AND id = ?", (held,)
            )
            conn.execute("UPDATE projections SET doc = json_set(doc, '$.last_reason', 'x') WHERE id = ?", (aborted,))
            conn.execute("DELETE FROM projection_refs WHERE kind = 'asset'")
        conn.close()
        return
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
    try:
        rows = client.get_default_database().projections
        rows.delete_one({"kind": "run", "id": made["runs"][0]})
        rows.delete_many({"kind": "subject"})
        rows.update_one({"kind": "run", "id": held}, {"$set": {
            "status": "Running", "doc.hold_count": 7, "created_at": "1999-01-01T00:00:00.000000+00:00"}})
        rows.update_one({"kind": "run", "id": aborted}, {"$set": {"doc.last_reason": "x"}})
        rows.update_many({"kind": "asset"}, {"$set": {"refs": []}})
    finally:
        client.close()


def test_rebuild_restores_deleted_and_corrupted_rows_and_is_idempotent(record, store_uri, clock, capsys):
    made = _busy_record(record, clock)
    original = _rows(record.store)
    assert len(original) > 10
    _damage(store_uri, made)
    damaged = _rows(record.store)
    assert damaged != original and len(damaged) < len(original)
    assert record.get_run(made["runs"][1]).hold_count == 7  # the damage is what a reader sees

    assert cli.main(["rebuild-projections", "--uri", store_uri]) == 0
    said = capsys.readouterr().out
    streams = len(original)
    changed = sum(1 for key, row in original.items() if damaged.get(key) != row)
    assert f"rebuilt {changed} projection(s), {streams - changed} already current" in said
    assert f"in {streams} streams; 0 stream(s) could not be folded" in said
    assert _rows(record.store) == original
    held = record.get_run(made["runs"][1])
    assert str(held.status) == "Held" and held.hold_count == 1
    assert timedelta(seconds=90) <= record.get_run(made["runs"][0]).time_held < timedelta(seconds=91)

    again = rebuild_projections(record.store)
    assert (again.rebuilt, again.current, again.streams, again.failed) == (0, streams, streams, [])
    assert _rows(record.store) == original


def test_a_rebuild_leaves_a_stream_that_moved_on_to_its_writer(record, store_uri, clock):
    made = _busy_record(record, clock)
    run_id = made["runs"][1]
    before = next(row for row in record.store.dump_projections() if row.id == run_id)
    record.resume_run(run_id)
    current = record.store.get("run", run_id)
    assert record.store.replace_projection(RUN.stream_id(run_id), before) is False  # behind its stream
    assert record.store.get("run", run_id) == current


def test_a_stream_that_cannot_be_folded_is_reported_and_the_rest_rebuilt(record, store_uri, clock, capsys):
    from cora_bluesky.application.aggregates import SUBJECT
    from cora_bluesky.application.ports import Append, NewEvent

    made = _busy_record(record, clock)
    record.store.append(Append(SUBJECT.stream_id("odd"), "subject", 0, [
        NewEvent("odd-1", "SubjectRegistered", {"subject_id": "odd"}, "t", "a", "c", None, 9)
    ]))
    _damage(store_uri, made)
    assert cli.main(["rebuild-projections", "--uri", store_uri]) == 1
    captured = capsys.readouterr()
    assert "cannot fold subject:odd: UnreadableEventError" in captured.err
    assert "1 stream(s) could not be folded" in captured.out
    assert str(record.get_run(made["runs"][1]).status) == "Held"


@pytest.fixture
def record(store_uri, permits, clock):
    import cora_bluesky

    opened = cora_bluesky.connect(store_uri, permits=permits, clock=clock, principal="tester")
    yield opened
    opened.close()
