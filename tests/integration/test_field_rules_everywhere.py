"""The bounds the stores also enforce, at every layer: the domain (the Python API), HTTP, SQLite
and the MongoDB wire server. At the bound a value is taken; one past it, each layer refuses with
its named error. The stores' checks are derived from the same rules; this proves they hold.

Starts the session's MongoDB wire-protocol server (or uses ``CORA_TEST_MONGODB_URI``).
"""

from __future__ import annotations

from datetime import timedelta

import pymongo
import pytest
from pymongo import errors as mongo_errors
from support import STORES, build_beamline, drop_store

import cora_bluesky
from cora_bluesky.application.codec import timestamp
from cora_bluesky.application.ports import Append, NewEvent, ProjectionRow
from cora_bluesky.domain import errors as e
from cora_bluesky.domain import rules
from cora_bluesky.storage import open_store

T0 = "2026-05-20T14:30:00.000000+00:00"

#: reading field -> (its rule, a value at the bound, a value one past it)
READING_BOUNDS = {
    "channel_name": (rules.CHANNEL_NAME, "c" * rules.CHANNEL_NAME.high, "c" * (rules.CHANNEL_NAME.high + 1)),
    "units": (rules.READING_UNITS, "u" * rules.READING_UNITS.high, "u" * (rules.READING_UNITS.high + 1)),
    "sampling_procedure": (rules.SAMPLING_PROCEDURE, "monitor", "sometimes"),
}
#: the units' lower bound holds too: blank units are absent units, never stored as text
BLANK_UNITS = ""


def _row(event_id: str, **change) -> dict:
    return {"event_id": event_id, "run_id": "r1", "logbook_id": "log", "actor_id": "tester",
            "command_name": "AppendRunReadings", "channel_name": "I0", "value": 1.0, "units": "mA",
            "sampling_procedure": "monitor", "sampled_at": T0, "occurred_at": T0, "correlation_id": "c",
            "causation_id": None, **change}


def _projection(version: int, name: str = "scan") -> ProjectionRow:
    return ProjectionRow("run", "r1", version, "Running", name, "p1", None, T0, T0, {"id": "r1"}, ())


def _event(name: str) -> NewEvent:
    return NewEvent(name, "Thing", {"name": name}, T0, "tester", "corr", None)


@pytest.fixture(params=sorted(STORES))
def store(request, tmp_path):
    uri = STORES[request.param](tmp_path)
    opened = open_store(uri)
    yield opened
    opened.close()
    drop_store(uri)


@pytest.mark.parametrize("field", sorted(READING_BOUNDS))
def test_each_store_takes_a_reading_at_the_bound_and_refuses_one_past(store, field):
    _, at, past = READING_BOUNDS[field]
    store.append(Append("run:r1", "run", 0, [_event("e1")], _projection(1), readings=[_row("at", **{field: at})]))
    assert [row[field] for row in store.readings("r1")] == [at]
    for bad in (past, *([BLANK_UNITS] if field == "units" else [])):
        with pytest.raises(e.StoreConstraintError):
            store.append(Append("run:r1", "run", 1, [_event("e2")], _projection(2), readings=[_row("past", **{field: bad})]))
    assert [s.event_id for s in store.load("run:r1")] == ["e1"]


def test_each_store_bounds_the_names_of_what_it_lists(store):
    rule = rules.RUN_NAME
    store.append(Append("run:r1", "run", 0, [_event("e1")], _projection(1, "n" * rule.high)))
    with pytest.raises(e.StoreConstraintError):
        store.append(Append("run:r1", "run", 1, [_event("e2")], _projection(2, "n" * (rule.high + 1))))
    assert store.get("run", "r1").name == "n" * rule.high


def test_each_store_takes_only_the_declared_step_kinds(store):
    step = {"event_id": "s1", "procedure_id": "p1", "logbook_id": "log", "actor_id": "tester",
            "command_name": "AppendProcedureSteps", "step_kind": rules.STEP_KIND.allowed[0], "payload": {},
            "sampled_at": T0, "occurred_at": T0, "correlation_id": "c", "causation_id": None}
    def row(version: int) -> ProjectionRow:
        return ProjectionRow("procedure", "p1", version, "Running", "bakeout", None, None, T0, T0, {"id": "p1"}, ())

    store.append(Append("procedure:p1", "procedure", 0, [_event("e1")], row(1), steps=[step]))
    with pytest.raises(e.StoreConstraintError):
        store.append(Append("procedure:p1", "procedure", 1, [_event("e2")], row(2),
                            steps=[{**step, "event_id": "s2", "step_kind": "sometimes"}]))
    assert [s.event_id for s in store.load("procedure:p1")] == ["e1"]


@pytest.mark.parametrize("field", sorted(READING_BOUNDS))
def test_the_mongodb_server_itself_refuses_one_past_the_bound(mongodb_uri, field):
    # written straight to the collection, past the store's own check: the validator is the server's
    opened = open_store(mongodb_uri)
    opened.close()
    _, at, past = READING_BOUNDS[field]
    client = pymongo.MongoClient(mongodb_uri, serverSelectionTimeoutMS=10000)
    try:
        readings = client.get_default_database()["entries_run_readings"]
        readings.insert_one({**_row("at", **{field: at}), "_id": "at"})
        for bad in (past, *([BLANK_UNITS] if field == "units" else [])):
            with pytest.raises(mongo_errors.WriteError) as refused:
                readings.insert_one({**_row("past", **{field: bad}), "_id": "past"})
            assert refused.value.code == 121  # DocumentValidationFailure
        assert readings.count_documents({}) == 1
    finally:
        client.close()


@pytest.fixture
def record(tmp_path, clock):
    opened = cora_bluesky.connect(f"sqlite:///{tmp_path / 'record.db'}",
                                  permits=cora_bluesky.StaticPermits({"2-BM-A": True, "2-BM-B": True}), clock=clock)
    yield opened
    opened.close()


@pytest.mark.parametrize("field", sorted(READING_BOUNDS))
def test_the_domain_takes_a_reading_at_the_bound_and_refuses_one_past(record, clock, field):
    rule, at, past = READING_BOUNDS[field]
    ids = build_beamline(record)
    run = record.start_run(name="scan", plan_id=ids.plan, subject_id=ids.subject)
    reading = {"channel_name": "I0", "value": 1.0, "units": "mA", "sampling_procedure": "monitor",
               "sampled_at": clock.current - timedelta(seconds=1)}
    assert record.append_run_readings(run.id, [{**reading, field: at}]) == 1
    with pytest.raises(rule.error):
        record.append_run_readings(run.id, [{**reading, field: past}])


@pytest.mark.parametrize("field", sorted(READING_BOUNDS))
def test_http_takes_a_reading_at_the_bound_and_refuses_one_past(served, clock, field):
    rule, at, past = READING_BOUNDS[field]
    served.clearance(subject_ids=[served.ids.subject])
    run = served.start().id
    reading = {"channel_name": "I0", "value": 1.0, "units": "mA", "sampling_procedure": "monitor",
               "sampled_at": timestamp(clock.current - timedelta(seconds=1))}
    taken = served.call("POST", f"/runs/{run}/readings", json={**reading, field: at})
    assert taken.status_code == 200, taken.text
    refused = served.call("POST", f"/runs/{run}/readings", json={**reading, field: past})
    assert (refused.status_code, refused.json()["error"]) == (422, rule.name)


@pytest.mark.parametrize(
    "rule, body",
    [
        (rules.RUN_NAME, lambda value: {"name": value}),
        (rules.EXTERNAL_REF_SCHEME, lambda value: {"external_refs": [{"scheme": value, "id": "42"}]}),
        (rules.RUN_RAID, lambda value: {"raid": value}),
    ],
    ids=lambda item: getattr(item, "field", ""),
)
def test_http_and_domain_agree_on_the_run_bounds(served, rule, body):
    served.clearance(subject_ids=[served.ids.subject])
    assert served.start(**body("x" * rule.high)).status == 201
    refused = served.start(**body("x" * (rule.high + 1)))
    assert (refused.status, refused.body["error"]) == (422, rule.name)
    with pytest.raises(rule.error):
        served.record.start_run(plan_id=served.ids.plan, subject_id=served.ids.subject,
                                **{"name": "scan", **_python(body("x" * (rule.high + 1)))})


def _python(fields: dict) -> dict:
    if "external_refs" in fields:
        return {"external_refs": [(ref["scheme"], ref["id"]) for ref in fields["external_refs"]]}
    return fields
