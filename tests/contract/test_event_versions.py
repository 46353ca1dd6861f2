"""Stored events keep their type's version; older versions are upcast as they are read."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import timedelta

import pytest
from support import NOW, build_beamline, staff

import cora_bluesky
from cora_bluesky.application.aggregates import CODEC, EVENT_TYPES, RUN
from cora_bluesky.application.codec import EventCodec, timestamp
from cora_bluesky.application.ports import Append, NewEvent
from cora_bluesky.application.rebuilding import rebuild_projections
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.run import RunStatus
from cora_bluesky.storage.sqlite_schema import MIGRATIONS


def _renamed(old: str, new: str):
    def upcast(payload: dict) -> dict:
        payload = dict(payload)
        payload[new] = payload.pop(old)
        return payload

    return upcast


#: As if RunHeld had been written as ``{"run": ..., "at": ...}`` (version 1), then with
#: ``held_at`` (version 2), before taking its present shape (version 3).
RENAMED_TWICE = EventCodec(
    EVENT_TYPES,
    versions={"RunHeld": 3},
    upcasters={
        ("RunHeld", 1): lambda old: {"run_id": old["run"], "held_at": old["at"]},
        ("RunHeld", 2): _renamed("held_at", "occurred_at"),
    },
)


def _at(seconds: float) -> str:
    return timestamp(NOW + timedelta(hours=1, seconds=seconds))


def _append(record, run_id: str, event_type: str, payload: dict, occurred_at: str, type_version: int) -> None:
    stream = RUN.stream_id(run_id)
    version = len(record.history("run", run_id))
    event = NewEvent(str(uuid.uuid4()), event_type, payload, occurred_at, "old-writer", "c", None, type_version)
    record.store.append(Append(stream, RUN.kind, version, [event]))


@pytest.fixture
def versioned(record, permits, clock):
    """The same record, read and written by a cora-bluesky whose RunHeld is at version 3."""
    return cora_bluesky.Record(record.store, codec=RENAMED_TWICE, permits=permits, clock=clock, principal="tester")


@pytest.fixture
def ids(record):
    return build_beamline(record)


@pytest.fixture
def run_id(record, ids):
    return record.start_run(name="tomography", plan_id=ids.plan, subject_id=ids.subject).id


def test_events_are_written_at_their_type_version_and_read_back(record, versioned, ids, run_id):
    record.hold_run(run_id)
    assert [ev.type_version for ev in record.store.load(RUN.stream_id(run_id))] == [1, 1]
    other = versioned.start_run(name="tomography 2", plan_id=ids.plan, subject_id=ids.subject).id
    versioned.hold_run(other)
    versioned.resume_run(other)
    stored = record.store.load(RUN.stream_id(other))
    assert [(ev.event_type, ev.type_version) for ev in stored] == [("RunStarted", 1), ("RunHeld", 3), ("RunResumed", 1)]
    assert versioned.get_run(other).hold_count == 1


def test_a_stream_of_older_versions_folds_through_the_chain_of_upcasters(record, versioned, run_id, clock):
    _append(record, run_id, "RunHeld", {"run": run_id, "at": _at(0)}, _at(0), 1)
    _append(record, run_id, "RunResumed", {"run_id": run_id, "occurred_at": _at(30)}, _at(30), 1)
    _append(record, run_id, "RunHeld", {"run_id": run_id, "held_at": _at(40)}, _at(40), 2)
    run = versioned.get_run(run_id)  # no projection of these appends: folded from the stream
    assert run.status is RunStatus.HELD and run.hold_count == 2
    assert run.time_held == timedelta(seconds=30) and timestamp(run.held_since) == _at(40)
    history = versioned.history("run", run_id)
    assert [(ev.event_type, ev.type_version) for ev in history][1:] == [
        ("RunHeld", 3), ("RunResumed", 1), ("RunHeld", 3)
    ]
    assert history[1].payload == {"run_id": run_id, "occurred_at": _at(0)} and history[1].actor == "old-writer"

    # the raw appends projected nothing; a rebuild reads the stream the same way
    assert record.store.get("run", run_id) is None
    assert rebuild_projections(record.store, codec=RENAMED_TWICE).failed == []
    assert record.store.get("run", run_id).doc["hold_count"] == 2
    assert versioned.get_run(run_id) == run
    clock.advance(hours=2)
    assert versioned.resume_run(run_id).time_held > timedelta(seconds=30)  # and it decides on that state


def test_a_version_newer_than_this_cora_knows_is_refused_by_name(record, run_id):
    _append(record, run_id, "RunHeld", {"run_id": run_id, "occurred_at": _at(0)}, _at(0), 2)
    with pytest.raises(e.UnreadableEventError, match="upgrade cora-bluesky") as refused:
        record.history("run", run_id)
    assert refused.value.data == {"event_type": "RunHeld", "type_version": 2}
    with pytest.raises(e.UnreadableEventError):
        record.hold_run(run_id)


def test_a_codec_refuses_a_broken_chain():
    with pytest.raises(ValueError, match="no upcaster from version 2"):
        EventCodec(EVENT_TYPES, {"RunHeld": 3}, {("RunHeld", 1): dict})
    with pytest.raises(ValueError, match="not older"):
        EventCodec(EVENT_TYPES, {}, {("RunHeld", 1): dict})
    with pytest.raises(ValueError, match="no such type"):
        EventCodec(EVENT_TYPES, {"RunHold": 2}, {("RunHold", 1): dict})
    assert CODEC.version("RunHeld") == 1


def test_an_unknown_kind_has_no_history(record):
    with pytest.raises(e.InvalidInputError, match="no aggregate kind"):
        record.history("runs", "r1")
    assert record.history("run", "never-started") == []


def test_an_sqlite_file_of_the_previous_schema_opens_and_reads_as_version_1(tmp_path):
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    for statement in [*MIGRATIONS[0], *MIGRATIONS[1]]:  # the schema before event versions
        conn.execute(statement)
    for version, (event_type, payload) in enumerate([
        ("SubjectRegistered", {"subject_id": "s1", "name": "sn-1", "occurred_at": _at(0)}),
        ("SubjectMounted", {"subject_id": "s1", "occurred_at": _at(1)}),
    ], start=1):
        conn.execute(
            "INSERT INTO events (stream_id, version, kind, event_id, event_type, payload, occurred_at,"
            " recorded_at, actor, correlation_id) VALUES ('subject:s1', ?, 'subject', ?, ?, json(?), ?, ?, 'old', 'c')",
            (version, f"ev{version}", event_type, json.dumps(payload), payload["occurred_at"],
             payload["occurred_at"]),
        )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()

    record = staff(cora_bluesky.connect(f"sqlite:///{path}"))  # its console takes the first administrator
    try:
        assert record.store.schema_version == len(MIGRATIONS) == 4
        assert [(ev.event_type, ev.type_version, ev.actor) for ev in record.history("subject", "s1")] == [
            ("SubjectRegistered", 1, "old"), ("SubjectMounted", 1, "old")
        ]
        assert str(record.get_subject("s1").status) == "Mounted"
        record.unmount_subject("s1")  # and it takes new events after the old ones
        assert [ev.type_version for ev in record.store.load("subject:s1")] == [1, 1, 1]
    finally:
        record.close()
    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(events)")}
    assert "type_version" in columns


def test_a_mongodb_event_without_a_version_reads_as_version_1(mongodb_uri):
    import pymongo

    record = staff(cora_bluesky.connect(mongodb_uri, principal="tester"))
    client = pymongo.MongoClient(mongodb_uri, serverSelectionTimeoutMS=10000)
    try:
        client.get_default_database().events.insert_one({
            "_id": "ev1", "stream_id": "subject:s1", "version": 1, "kind": "subject",
            "event_type": "SubjectRegistered", "payload": {"subject_id": "s1", "name": "sn-1", "occurred_at": _at(0)},
            "occurred_at": _at(0), "recorded_at": _at(0), "actor": "old", "correlation_id": "c", "causation_id": None,
        })
        assert [ev.type_version for ev in record.history("subject", "s1")] == [1]
        assert record.get_subject("s1").name == "sn-1"
        record.mount_subject("s1")
        stored = client.get_default_database().events.find_one({"stream_id": "subject:s1", "version": 2})
        assert stored["type_version"] == 1
    finally:
        client.close()
        record.close()


def test_a_copy_keeps_each_event_type_version(record, versioned, run_id, tmp_path):
    from cora_bluesky.application.copying import copy_record
    from cora_bluesky.storage import open_store

    versioned.hold_run(run_id)
    target = open_store(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        copy_record(record.store, target)
        assert [ev.type_version for ev in target.load(RUN.stream_id(run_id))] == [1, 3]
    finally:
        target.close()
