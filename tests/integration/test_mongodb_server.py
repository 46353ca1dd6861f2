"""What only a real MongoDB server shows: fail points, connect refusals, read failures, plans.

Runs on the session's wire-protocol server (or ``CORA_TEST_MONGODB_URI``). Fail points need a
server started with test commands enabled; a server without them skips those tests.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pymongo
import pytest
from support import build_beamline, wait_for

import cora_bluesky
from cora_bluesky.application.ports import Append, ListQuery, NewEvent, ProjectionRow
from cora_bluesky.domain import errors as e
from cora_bluesky.storage import open_store
from cora_bluesky.storage.mongo import MongoStore, page_filter, page_index

T0 = "2026-05-20T14:30:00.000000+00:00"


def event(name: str) -> NewEvent:
    return NewEvent(name, "Thing", {"name": name}, T0, "tester", "corr", None)


def row(version: int, status: str = "Running") -> ProjectionRow:
    return ProjectionRow("run", "r1", version, status, "scan", "p1", None, T0, T0, {"id": "r1"}, ())


def reading(event_id: str) -> dict:
    return {"event_id": event_id, "run_id": "r1", "logbook_id": "log", "actor_id": "tester",
            "command_name": "AppendRunReading", "channel_name": "I0", "value": 1.0, "units": "mA",
            "sampling_procedure": "monitor", "sampled_at": T0, "occurred_at": T0, "correlation_id": "c",
            "causation_id": None}


@pytest.fixture
def uri(mongodb_uri):
    return mongodb_uri


@pytest.fixture
def store(uri):
    opened = MongoStore(uri)
    yield opened
    opened.close()


@pytest.fixture
def admin(uri):
    client = pymongo.MongoClient(uri)
    yield client.admin
    client.admin.command("configureFailPoint", "failCommand", mode="off")
    client.close()


@contextmanager
def fail_point(admin, times: int, commands: list[str], **data):
    """Arm ``failCommand`` for ``times`` of ``commands``; disarmed on the way out."""
    try:
        admin.command("configureFailPoint", "failCommand", mode={"times": times},
                      data={"failCommands": commands, **data})
    except pymongo.errors.OperationFailure as refused:
        pytest.skip(f"the server has no fail points ({refused}): start mongod with"
                    " --setParameter enableTestCommands=1")
    try:
        yield
    finally:
        admin.command("configureFailPoint", "failCommand", mode="off")


WRITE_CONCERN_ERROR = {"writeConcernError": {"code": 64, "codeName": "WriteConcernFailed",
                                             "errmsg": "waiting for replication timed out",
                                             "errInfo": {"wtimeout": True}}}
FAILURES = {
    "write concern error on commit": (["commitTransaction"], WRITE_CONCERN_ERROR),
    "network error on commit": (["commitTransaction"], {"closeConnection": True}),
    "network error on insert": (["insert"], {"closeConnection": True}),
    "not primary on insert": (["insert"], {"errorCode": 10107}),
    "not primary on commit": (["commitTransaction"], {"errorCode": 10107}),
    "shutting down on update": (["update"], {"errorCode": 91}),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_an_append_the_server_did_not_confirm_is_written_once(store, admin, failure):
    commands, data = FAILURES[failure]
    store.append(Append("run:r1", "run", 0, [event("e1")], row(1)))
    batch = Append("run:r1", "run", 1, [event("e2"), event("e3")], row(3, "Held"), readings=[reading("a")])
    with fail_point(admin, 1, commands, **data):
        result = store.append(batch)
    assert (result.version, result.readings_written) == (3, 1)
    assert [(s.version, s.event_id) for s in store.load("run:r1")] == [(1, "e1"), (2, "e2"), (3, "e3")]
    assert store.get("run", "r1").status == "Held"
    assert [r["event_id"] for r in store.readings("r1")] == ["a"]


def test_a_write_concern_that_keeps_failing_is_a_store_error_and_the_retry_recognises_its_events(store, admin):
    store.append(Append("run:r1", "run", 0, [event("e1")], row(1)))
    batch = Append("run:r1", "run", 1, [event("e2")], row(2, "Held"), readings=[reading("a")])
    with fail_point(admin, 1000, ["commitTransaction"], **WRITE_CONCERN_ERROR):
        with pytest.raises(e.StoreError, match="safe to retry"):
            store.append(batch)
    # the first commit took effect locally; the retry finds its own events and writes nothing
    assert store.append(batch).version == 2
    assert [s.event_id for s in store.load("run:r1")] == ["e1", "e2"]
    assert len(store.readings("r1")) == 1


def test_an_adjust_whose_acknowledgement_was_lost_is_recorded_once(uri, admin):
    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-A": True, "2-BM-B": True}))
    try:
        ids = build_beamline(record)
        run = record.start_run(name="x", plan_id=ids.plan, subject_id=ids.subject)
        with fail_point(admin, 1, ["commitTransaction"], **WRITE_CONCERN_ERROR):
            adjusted = record.adjust_run(run.id, parameter_patch={"exposure": 0.3}, reason="drift")
        assert adjusted.adjustment_count == 1
        kinds = [s.event_type for s in record.history("run", run.id)]
        assert kinds.count("RunAdjusted") == 1
        assert record.get_run(run.id) == adjusted
    finally:
        record.close()


@pytest.mark.parametrize("read", ["load", "get", "find", "page", "readings", "latest_reading_at", "form_types"])
def test_read_failures_are_store_errors(store, admin, read):
    store.append(Append("run:r1", "run", 0, [event("e1")], row(1), readings=[reading("a")]))
    calls = {
        "load": lambda: store.load("run:r1"),
        "get": lambda: store.get("run", "r1"),
        "find": lambda: store.find("run", name="scan"),
        "page": lambda: store.page(ListQuery("run", limit=10)),
        "readings": lambda: store.readings("r1"),
        "latest_reading_at": lambda: store.latest_reading_at("r1"),
        "form_types": lambda: store.form_types(),
    }
    # twice: the driver retries a read once by itself
    with fail_point(admin, 2, ["find"], errorCode=91, errorLabels=["RetryableWriteError"]):
        with pytest.raises(e.StoreError):
            calls[read]()
    assert calls[read]() not in (None, [])  # and the store serves again


def test_connect_refuses_a_standalone_server_with_the_fix():
    from cora_bluesky.sim.wire_server import WireServer, executable

    if executable() is None:
        pytest.skip("needs secantusd-py on PATH to start a standalone server: pip install -e '.[test]'")
    with WireServer(standalone=True) as standalone:
        with pytest.raises(e.StoreError, match="replSet") as refused:
            cora_bluesky.connect(standalone.database_uri("cora"))
    assert "standalone" in str(refused.value)


@pytest.mark.parametrize(
    "option", ["w=7", "w=nonsense-tag", "replicaSet=not-this-one&serverSelectionTimeoutMS=500"]
)
def test_connect_raises_the_records_own_errors(uri, option):
    joined = uri + ("&" if "?" in uri else "?") + option
    with pytest.raises(e.StoreError):
        cora_bluesky.connect(joined)


def test_an_unreachable_server_is_a_store_error():
    from cora_bluesky.sim.loopback import free_port

    with pytest.raises(e.StoreError, match="cannot use MongoDB"):
        open_store(f"mongodb://127.0.0.1:{free_port()}/cora?serverSelectionTimeoutMS=300")


def test_readings_never_land_after_their_run_moved_on(uri, store):
    """An entries-only append that meets a command holding the stream waits, then sees it moved."""
    store.append(Append("run:r1", "run", 0, [event("start")], row(1)))
    completing, readings_writer = MongoStore(uri), MongoStore(uri)
    inside, conflicted = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}
    holding = completing._apply

    def hold_the_stream(session, batch, *rest):
        result = holding(session, batch, *rest)  # the lock document is written
        inside.set()
        assert conflicted.wait(30), "the readings append never met the held stream"
        return result

    completing._apply = hold_the_stream
    attempts = readings_writer._append_once

    def counting(*args):
        try:
            return attempts(*args)
        except Exception as error:
            conflicted.set()
            raise error

    readings_writer._append_once = counting

    def complete():
        outcome["complete"] = completing.append(Append("run:r1", "run", 1, [event("done")], row(2, "Completed")))

    thread = threading.Thread(target=complete)
    thread.start()
    assert inside.wait(30)
    with pytest.raises(e.ConcurrencyError):
        readings_writer.append(Append("run:r1", "run", 1, readings=[reading(f"late-{n}") for n in range(50)]))
    thread.join()
    assert outcome["complete"].version == 2
    assert store.readings("r1") == []
    completing.close(), readings_writer.close()


def _plan(db, collection: str, query: dict, sort: list | None = None, limit: int = 0, hint=None) -> str:
    command = {"find": collection, "filter": query}
    if hint:
        command["hint"] = dict(hint)
    if sort:
        command["sort"] = dict(sort)
    if limit:
        command["limit"] = limit
    return repr(db.command("explain", command, verbosity="queryPlanner")["queryPlanner"]["winningPlan"])


def test_every_query_the_store_makes_uses_an_index(store):
    for n in range(30):
        store.append(Append(f"run:r{n}", "run", 0, [event(f"e{n}")], ProjectionRow(
            "run", f"r{n}", 1, "Running", f"scan {n}", "p1", "s1", T0, T0, {"id": f"r{n}"}, (("asset", f"a{n}"),))))
    store.append(Append("run:r1", "run", 1, readings=[reading(f"x{n}") for n in range(30)]))
    db = store.db
    plans = {
        "load": _plan(db, "events", {"stream_id": "run:r1"}, [("version", 1)]),
        "version": _plan(db, "events", {"stream_id": "run:r1"}, [("version", -1)], 1),
        "get": _plan(db, "projections", {"_id": "run:r1"}),
        "find by name": _plan(db, "projections", {"kind": "run", "name": "scan 1"}, [("created_at", 1), ("id", 1)]),
        "find by refs": _plan(db, "projections", {"kind": "run", "refs": {"$in": ["asset:a1"]}}),
        **{
            f"page {name}": _plan(db, "projections", page_filter(query), [("created_at", -1), ("id", -1)], 11,
                                  page_index(query))
            for name, query in {
                name: ListQuery("run", limit=11, **filters) for name, filters in {
                "first": {}, "by status": {"status": "Running"}, "by plan": {"plan_id": "p1"},
                "by subject": {"subject_id": "s1"}, "window": {"created_from": T0, "created_before": "2027"},
                    "next": {"after": (T0, "r5")}, "next by status": {"status": "Running", "after": (T0, "r5")},
                }.items()
            }.items()
        },
        "latest reading": _plan(db, "entries_run_readings", {"run_id": "r1"}, [("sampled_at", -1)], 1),
        "readings": _plan(db, "entries_run_readings", {"run_id": "r1"}, [("sampled_at", 1), ("_id", 1)]),
    }
    scans = {name: plan for name, plan in plans.items() if "COLLSCAN" in plan}
    assert scans == {}
    assert all("IXSCAN" in plan or "IDHACK" in plan or "EXPRESS" in plan for plan in plans.values()), plans


def test_values_bson_cannot_hold_are_constraint_errors_and_write_nothing(store):
    with pytest.raises(e.StoreConstraintError):
        store.append(Append("run:r1", "run", 0, [NewEvent("big", "Thing", {"n": 2**70}, T0, "t", "c")], row(1)))
    assert store.load("run:r1") == [] and store.get("run", "r1") is None


def test_the_server_validator_refuses_what_the_store_check_would_have(store):
    # bypass the store's own check: the collection's validator still refuses, and the batch goes whole
    import cora_bluesky.storage.mongo as mongo

    store.append(Append("run:r1", "run", 0, [event("e1")], row(1)))
    original, mongo._check_reading = mongo._check_reading, lambda found: found
    try:
        with pytest.raises(e.StoreConstraintError):
            store.append(Append("run:r1", "run", 1, [event("e2")], row(2), readings=[reading("ok"), {**reading("x"), "value": "NaN?"}]))
    finally:
        mongo._check_reading = original
    assert [s.event_id for s in store.load("run:r1")] == ["e1"]
    assert store.readings("r1") == []


def test_the_test_server_dies_with_the_process_that_started_it():
    import os
    import signal
    import subprocess
    import sys

    from cora_bluesky.sim.wire_server import executable

    if executable() is None:
        pytest.skip("needs secantusd-py on PATH: pip install -e '.[test]'")
    starter = subprocess.run(
        [sys.executable, "-c", "import os; from cora_bluesky.sim.wire_server import WireServer;"
                               "print(WireServer().pid, flush=True); os.kill(os.getpid(), 9)"],
        capture_output=True, text=True, timeout=120,
    )
    assert starter.returncode == -signal.SIGKILL
    pid = int(starter.stdout.split()[0])
    def alive() -> bool:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as stat:  # a zombie awaiting its reaper is gone too
                return stat.read().split(")")[-1].split()[0] != "Z"
        except (ProcessLookupError, FileNotFoundError):
            return False

    try:
        wait_for(lambda: not alive(), 60, "the server to die with its starter", interval=0.1)
    finally:
        if alive():
            os.kill(pid, signal.SIGKILL)


def test_a_record_written_without_lock_documents_is_upgraded_and_older_writers_refused(uri):
    client = pymongo.MongoClient(uri)
    try:
        client.get_default_database().meta.insert_one({"_id": "schema", "version": 1})
        MongoStore(uri).close()
        assert client.get_default_database().meta.find_one({"_id": "schema"})["version"] == 2
        client.get_default_database().meta.update_one({"_id": "schema"}, {"$set": {"version": 3}})
        with pytest.raises(e.StoreError, match="upgrade cora-bluesky"):
            MongoStore(uri)
    finally:
        client.close()
