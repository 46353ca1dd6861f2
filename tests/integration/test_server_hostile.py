"""Hostile input at the edge: refused with a named error, and nothing recorded is changed."""

from __future__ import annotations

import json

import pytest
from serving import Served
from support import STORES, drop_store


@pytest.fixture(params=sorted(STORES))
def any_store(request, tmp_path, clock):
    uri = STORES[request.param](tmp_path)
    server = Served(uri, clock=clock)
    server.clearance(subject_ids=[server.ids.subject])
    yield server
    server.close()
    drop_store(uri)


def raw(served, path, content, *, role="operator", key=True, content_type="application/json"):
    return served.call("POST", path, role, key=key, content=content, headers={"content-type": content_type})


def snapshot(served):
    return [(e.stream_id, e.version, e.event_type) for e in served.record.store.dump_events()]


def start_body(served, **fields) -> dict:
    return {"name": "scan", "plan_id": served.ids.plan, "subject_id": served.ids.subject, **fields}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_refused(served, literal):
    served.clearance(subject_ids=[served.ids.subject])
    before = snapshot(served)
    text = json.dumps(start_body(served)).replace('"scan"', '"scan", "override_parameters": {"exposure": %s}' % literal)
    answer = raw(served, "/runs", text)
    assert (answer.status_code, answer.json()["error"]) == (422, "InvalidRequest")
    assert literal in answer.json()["message"]
    assert snapshot(served) == before


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"\xff\xfe not utf-8",
        b'{"name": "scan", "plan_id": ',
        b"[1, 2, 3]",
        b'"just a string"',
        b"",
    ],
)
def test_malformed_bodies_are_refused_cleanly(served, content):
    served.clearance(subject_ids=[served.ids.subject])
    before = snapshot(served)
    answer = raw(served, "/runs", content)
    assert answer.status_code == 422 and answer.json()["error"] in {"InvalidRequest", "InvalidRunName"}
    assert "Traceback" not in answer.text
    assert snapshot(served) == before


def test_deeply_nested_parameters_that_parse_are_refused_by_the_core(served):
    served.clearance(subject_ids=[served.ids.subject])
    nested: dict = {"v": 1}
    for _ in range(60):
        nested = {"v": nested}
    answer = served.call("POST", "/runs", key=True, json=start_body(served, override_parameters={"deep": nested}))
    assert (answer.status_code, answer.json()["error"]) == (422, "InvalidRunParameters")


def test_oversize_bodies_are_refused_unread(served):
    big = json.dumps(start_body(served, override_parameters={"blob": "x" * 2_000_000}))
    answer = raw(served, "/runs", big)
    assert (answer.status_code, answer.json()["error"]) == (413, "RequestTooLarge")

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b" " * 65536

    streamed = served.call("POST", "/runs", key=True, content=chunks(), headers={"content-type": "application/json"})
    assert (streamed.status_code, streamed.json()["error"]) == (413, "RequestTooLarge")


def test_oversize_strings_and_lists_are_refused(served):
    served.clearance(subject_ids=[served.ids.subject])
    for fields, error in [
        ({"name": "n" * 10_000}, "InvalidRunName"),
        ({"asset_ids": ["a"] * 1001}, "InvalidRequest"),
        ({"plan_id": "p" * 101}, "InvalidRequest"),
        ({"name": "tab\x00null"}, "InvalidRunName"),
    ]:
        answer = served.call("POST", "/runs", key=True, json=start_body(served, **fields))
        assert (answer.status_code, answer.json()["error"]) == (422, error), fields
    assert served.call("GET", "/runs", "viewer").json()["items"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": '{"$ne": null}'},
        {"status[$ne]": "Completed"},
        {"status": "Running' OR '1'='1"},
        {"plan_id": '{"$gt": ""}'},
        {"subject_id": "x; DROP TABLE events; --"},
        {"status": "$where"},
    ],
)
def test_operator_and_sql_lookalikes_in_queries_are_plain_values(any_store, params):
    served = any_store
    served.start()
    listed = served.call("GET", "/runs", "viewer", params=params)
    assert listed.status_code == 200
    expected = 1 if set(params) == {"status[$ne]"} else 0  # an unknown parameter is ignored
    assert len(listed.json()["items"]) == expected
    assert len(served.call("GET", "/runs", "viewer").json()["items"]) == 1


@pytest.mark.parametrize("run_id", ['{"$ne": null}', "' OR 1=1 --", "..%2F..%2Fetc", "x" * 101])
def test_hostile_ids_are_unknown_or_invalid(any_store, run_id):
    answer = any_store.call("GET", f"/runs/{run_id}", "viewer")
    assert answer.status_code in (404, 422)
    assert answer.json()["error"] in {"RunNotFound", "InvalidRequest", "NotFound"}


def test_an_internal_failure_shows_no_trace(served):
    served.record.store.close()  # the store vanished under the server
    answer = served.call("GET", "/runs", "viewer")
    assert answer.status_code in (500, 503)
    assert "Traceback" not in answer.text and "sqlite" not in answer.text.lower()
    assert answer.json()["error"] in {"Internal", "Store"}
