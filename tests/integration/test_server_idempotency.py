"""Idempotency-Key: a retry answers as the first request did, and writes nothing more."""

from __future__ import annotations

from cora_bluesky.application.codec import timestamp
from cora_bluesky.server import idempotency
from cora_bluesky.application.messages import StartRunIn


def run_events(served, run_id):
    return [event.event_type for event in served.record.history("run", run_id)]


def body(served, **fields):
    return {"name": "scan", "plan_id": served.ids.plan, "subject_id": served.ids.subject, **fields}


def test_a_retried_start_returns_the_original_response_without_a_second_write(served):
    served.clearance(subject_ids=[served.ids.subject])
    first = served.call("POST", "/runs", key="k-1", json=body(served))
    again = served.call("POST", "/runs", key="k-1", json=body(served))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert run_events(served, first.json()["run_id"]) == ["RunStarted"]
    assert len(served.call("GET", "/runs", "viewer").json()["items"]) == 1


def test_the_same_key_with_another_body_is_refused(served):
    served.clearance(subject_ids=[served.ids.subject])
    served.call("POST", "/runs", key="k-1", json=body(served))
    other = served.call("POST", "/runs", key="k-1", json=body(served, name="another scan"))
    assert (other.status_code, other.json()["error"]) == (422, "IdempotencyKeyReused")
    elsewhere = served.call("POST", "/subjects", key="k-1", json={"name": "sn-9"})
    assert elsewhere.json()["error"] == "IdempotencyKeyReused"
    assert len(served.call("GET", "/runs", "viewer").json()["items"]) == 1


def test_keys_belong_to_their_principal(served):
    served.clearance(subject_ids=[served.ids.subject])
    served.record.register_principal(principal_id="operator-2", roles=["operator"])
    _, second_operator = served.record.issue_token(principal="operator-2", role="operator")
    first = served.call("POST", "/runs", key="shared", json=body(served)).json()
    theirs = served.client.post(
        "/runs", json=body(served), headers={"Authorization": f"Bearer {second_operator}", "Idempotency-Key": "shared"}
    ).json()
    assert first["run_id"] != theirs["run_id"]


def test_a_refused_command_releases_its_key_for_the_same_retry(served):
    refused = served.call("POST", "/runs", key="press-start", json=body(served))
    assert refused.json()["error"] == "RunRequiresActiveClearance"
    served.clearance(subject_ids=[served.ids.subject])
    accepted = served.call("POST", "/runs", key="press-start", json=body(served))
    assert accepted.status_code == 201 and accepted.json()["run_id"] == refused.json()["run_id"]


def test_a_retried_adjustment_is_applied_once(served):
    served.clearance(subject_ids=[served.ids.subject])
    run = served.start().id
    patch = {"parameter_patch": {"exposure": 0.3}, "reason": "detector drift"}
    first = served.call("POST", f"/runs/{run}/adjust", key="adj-1", json=patch)
    again = served.call("POST", f"/runs/{run}/adjust", key="adj-1", json=patch)
    assert again.json() == first.json() and first.json()["adjustment_count"] == 1
    assert run_events(served, run).count("RunAdjusted") == 1


def test_keyed_creates_of_every_resource_replay(served):
    for role, path, payload in [
        ("operator", "/subjects", {"name": "sn-7"}),
        ("admin", "/enclosures", {"name": "2-BM-D", "secured_pv": "PA:D"}),
        ("admin", "/methods", {"name": "radiography"}),
        ("operator", "/clearances", {"form_type": "aps-esaf", "title": "t", "asset_ids": [served.ids.stage]}),
        ("operator", "/procedures", {"name": "bakeout", "kind": "bakeout"}),
    ]:
        first = served.call("POST", path, role, key=f"key-{path}", json=payload)
        again = served.call("POST", path, role, key=f"key-{path}", json=payload)
        assert first.status_code == again.status_code == 201, first.text
        assert again.json() == first.json()
    assert len(served.call("GET", "/subjects", "viewer").json()["items"]) == 2  # the beamline's and sn-7


def crashed_claim(served, clock, key: str, payload: dict, *, wrote: bool) -> str:
    """A claim left by a server that died, having written the run (``wrote``) or not."""
    scoped = idempotency.scoped_key("operator-1", key)
    fingerprint = idempotency.request_fingerprint("POST", "/runs", StartRunIn(**payload))
    served.app.state.keys.claim_key(scoped, fingerprint, timestamp(clock.current))
    if wrote:
        acting = served.record.bound(principal="operator-1", correlation_id=idempotency.derived_correlation(scoped))
        acting.start_run(**payload, run_id=idempotency.derived_id(scoped))
    return idempotency.derived_id(scoped)


def test_a_claim_in_progress_is_a_conflict_until_abandoned_then_resolved_from_the_record(served, clock):
    served.clearance(subject_ids=[served.ids.subject])
    run_id = crashed_claim(served, clock, "crash", body(served), wrote=True)
    pending = served.call("POST", "/runs", key="crash", json=body(served))
    assert (pending.status_code, pending.json()["error"]) == (409, "IdempotencyKeyInProgress")
    clock.advance(minutes=2)
    resolved = served.call("POST", "/runs", key="crash", json=body(served))
    assert resolved.status_code == 201 and resolved.json()["run_id"] == run_id
    assert run_events(served, run_id) == ["RunStarted"]
    replayed = served.call("POST", "/runs", key="crash", json=body(served))
    assert replayed.json() == resolved.json() and replayed.headers["idempotent-replayed"] == "true"


def test_an_abandoned_claim_whose_write_never_landed_is_taken_over(served, clock):
    served.clearance(subject_ids=[served.ids.subject])
    run_id = crashed_claim(served, clock, "lost", body(served), wrote=False)
    clock.advance(minutes=2)
    taken = served.call("POST", "/runs", key="lost", json=body(served))
    assert taken.status_code == 201 and taken.json()["run_id"] == run_id
    assert run_events(served, run_id) == ["RunStarted"]


def test_a_create_its_replay_and_a_later_read_answer_the_same_json(served):
    created = served.call("POST", "/subjects", key="same-json", json={"name": "sn-8"}).json()
    replayed = served.call("POST", "/subjects", key="same-json", json={"name": "sn-8"}).json()
    read = served.call("GET", f"/subjects/{created['id']}", "viewer").json()
    assert created == replayed == read
    listed = served.call("GET", "/subjects", "viewer").json()["items"]
    assert next(item for item in listed if item["id"] == created["id"]) == read
    served.clearance(subject_ids=[served.ids.subject])
    run = served.start().id
    adjusted = served.call("POST", f"/runs/{run}/adjust", key=True, json={"parameter_patch": {"exposure": 0.2},
                                                                          "reason": "drift"}).json()
    assert adjusted == served.call("GET", f"/runs/{run}", "viewer").json()
