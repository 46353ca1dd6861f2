"""The Run slices over HTTP: every command, its refusals, and the listing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from support import NOW

from cora_bluesky.application.codec import timestamp


def at(clock, **delta) -> str:
    return timestamp(clock.current - timedelta(**delta))


def test_a_refused_start_names_what_is_missing_and_writes_nothing(served):
    refused = served.start()
    assert refused.status == 409
    assert refused.body["error"] == "RunRequiresActiveClearance"
    assert "clearance" in refused.body["message"]
    assert served.call("GET", "/runs", "viewer").json() == {"items": [], "next": None}
    assert served.record.history("run", refused.body['run_id']) == []


def test_a_clearance_not_yet_in_force_is_a_coverage_mismatch(served):
    made = served.call(
        "POST", "/clearances", json={"form_type": "aps-esaf", "title": "ESAF", "subject_ids": [served.ids.subject]}
    )
    served.call("POST", f"/clearances/{made.json()['id']}/submit")
    refused = served.start()
    assert refused.status == 409 and refused.body["error"] == "RunClearanceCoverageMismatch"


def test_unpermitted_hutches_are_named(served):
    served.clearance(subject_ids=[served.ids.subject])
    served.permits.set("2-BM-B", False)
    refused = served.start()
    assert refused.status == 409
    assert refused.body["error"] == "RunRequiresPermittedEnclosure"
    assert "2-BM-B" in str(refused.body)
    served.permits.set("2-BM-B", True)
    mixed = served.start(asset_ids=[served.ids.mono])
    assert mixed.status == 201
    served.permits.set("2-BM-A", False)
    partly = served.start(asset_ids=[served.ids.mono])
    assert partly.status == 409 and partly.body["error"] == "RunEnclosureCoverageMismatch"
    assert "2-BM-A" in str(partly.body) and "2-BM-B" not in str(partly.body.get("hutches", ""))


def test_an_accepted_start_resolves_parameters_and_acts_as_the_token(served):
    served.clearance(subject_ids=[served.ids.subject])
    started = served.start(override_parameters={"exposure": 0.2}, triggered_by="operator:opid:42")
    assert started.status == 201
    assert started.body["status"] == "Running"
    assert started.body["effective_parameters"] == {"exposure": 0.2, "angles": 180}
    run = served.call("GET", f"/runs/{started.id}", "viewer").json()
    assert run["triggered_by"] == "operator:opid:42" and run["subject_id"] == served.ids.subject
    assert {event.actor for event in served.record.history("run", started.id)} == {"operator-1"}


@pytest.mark.parametrize(
    "fields, status, error",
    [
        ({"name": "   "}, 422, "InvalidRunName"),
        ({"name": "x" * 201}, 422, "InvalidRunName"),
        ({"plan_id": "no-such-plan"}, 404, "PlanNotFound"),
        ({"override_parameters": {"exposure": -1}}, 422, "InvalidRunParameters"),
        ({"pinned_calibrations": ["cal-unknown"]}, 422, "InvalidPinnedCalibrations"),
        ({"external_refs": [{"scheme": " ", "id": "x"}]}, 422, "InvalidRunExternalRef"),
        ({"triggered_by": ""}, 422, "InvalidRunTriggeredBy"),
        ({"raid": "r" * 300}, 422, "InvalidRunRaid"),
        ({"campaign_id": "c" * 101}, 422, "InvalidRunCampaignId"),
        ({"unexpected": 1}, 422, "InvalidRequest"),
    ],
)
def test_start_refusals(served, fields, status, error):
    served.clearance(subject_ids=[served.ids.subject])
    refused = served.start(**fields)
    assert (refused.status, refused.body["error"]) == (status, error), refused.body
    assert refused.body["message"]
    assert served.call("GET", "/runs", "viewer").json()["items"] == []


def test_numbers_that_overflow_to_infinity_are_refused(served):
    served.clearance(subject_ids=[served.ids.subject])
    body = '{"name": "scan", "plan_id": "%s", "subject_id": "%s", "override_parameters": {"exposure": 1e999}}' % (
        served.ids.plan,
        served.ids.subject,
    )
    refused = served.call("POST", "/runs", key=True, content=body, headers={"content-type": "application/json"})
    assert (refused.status_code, refused.json()["error"]) == (422, "InvalidRunParameters")
    assert served.call("GET", "/runs", "viewer").json()["items"] == []


def test_start_guards_on_plan_subject_and_assets(served):
    served.clearance(subject_ids=[served.ids.subject])
    served.record.unmount_subject(served.ids.subject)
    assert served.start().body["error"] == "SubjectNotMountable"
    served.record.mount_subject(served.ids.subject)
    served.call("POST", f"/assets/{served.ids.camera}/decommission", "admin")
    assert served.start().body["error"] == "RunAssetDecommissioned"
    served.call("POST", f"/plans/{served.ids.plan}/deprecate", "admin")
    assert served.start().body["error"] == "PlanDeprecated"


def test_capabilities_are_rechecked_at_start(served):
    served.clearance(subject_ids=[served.ids.subject])
    method = served.call("POST", "/methods", "admin", json={"name": "fluo", "needed_families": ["detector"]}).json()
    plan = served.call("POST", "/plans", "admin", json={"name": "fluo_scan", "method_id": method["id"]})
    refused = served.start(plan_id=plan.json()["id"])
    assert (refused.status, refused.body["error"]) == (409, "RunCapabilitiesNotSatisfied")


def test_start_and_adjust_need_an_idempotency_key(served):
    served.clearance(subject_ids=[served.ids.subject])
    body = {"name": "scan", "plan_id": served.ids.plan, "subject_id": served.ids.subject}
    refused = served.call("POST", "/runs", json=body)
    assert (refused.status_code, refused.json()["error"]) == (422, "IdempotencyKeyRequired")
    assert served.call("POST", "/runs", key="bad key with spaces", json=body).json()["error"] == "InvalidIdempotencyKey"
    run = served.start().id
    patch = {"parameter_patch": {"exposure": 0.3}, "reason": "drift"}
    assert served.call("POST", f"/runs/{run}/adjust", json=patch).json()["error"] == "IdempotencyKeyRequired"


def test_the_lifecycle_and_its_refusals(served, clock):
    served.clearance(subject_ids=[served.ids.subject])
    run = served.start().id
    post = lambda verb, **kw: served.call("POST", f"/runs/{run}/{verb}", **kw)  # noqa: E731
    assert post("resume").json()["error"] == "RunCannotResume"
    assert post("hold").json()["status"] == "Held"
    assert post("hold").json()["error"] == "RunCannotHold"
    assert post("complete").json()["error"] == "RunCannotComplete"
    assert post("resume").json()["status"] == "Running"
    adjusted = post("adjust", key=True, json={"parameter_patch": {"exposure": 0.3}, "reason": "detector drift"})
    assert adjusted.status_code == 200
    assert adjusted.json()["effective_parameters"]["exposure"] == 0.3 and adjusted.json()["adjustment_count"] == 1
    for patch, error in [
        ({"parameter_patch": {}, "reason": "r"}, "InvalidRunAdjustPatch"),
        ({"parameter_patch": {"exposure": "slow"}, "reason": "r"}, "InvalidRunAdjustSchema"),
        ({"parameter_patch": {"exposure": 0.4}, "reason": " "}, "InvalidRunAdjustReason"),
    ]:
        refused = post("adjust", key=True, json=patch)
        assert (refused.status_code, refused.json()["error"]) == (422, error)
    assert post("complete").json()["status"] == "Completed"
    again = post("complete")
    assert (again.status_code, again.json()["error"]) == (409, "RunCannotComplete")
    assert post("adjust", key=True, json={"parameter_patch": {"exposure": 1}, "reason": "late"}).json()["error"] == (
        "RunCannotAdjust"
    )
    for verb, error in (("abort", "RunCannotAbort"), ("stop", "RunCannotStop"), ("truncate", "RunCannotTruncate")):
        assert post(verb, json={"reason": "too late"}).json()["error"] == error
    assert [ev.event_type for ev in served.record.history("run", run)] == [
        "RunStarted",
        "RunHeld",
        "RunResumed",
        "RunAdjusted",
        "RunCompleted",
    ]


@pytest.mark.parametrize(
    "verb, error",
    [("abort", "InvalidRunAbortReason"), ("stop", "InvalidRunStopReason"), ("truncate", "InvalidRunTruncateReason")],
)
def test_exits_need_a_reason(served, verb, error):
    served.clearance(subject_ids=[served.ids.subject])
    run = served.start().id
    for reason in ("", "   ", "x" * 501):
        refused = served.call("POST", f"/runs/{run}/{verb}", json={"reason": reason})
        assert (refused.status_code, refused.json()["error"]) == (422, error)
    assert served.call("POST", f"/runs/{run}/{verb}", json={}).json()["error"] == error
    ended = served.call("POST", f"/runs/{run}/{verb}", json={"reason": "  beam lost  "}).json()
    assert ended["last_reason"] == "beam lost"


def test_truncate_keeps_the_interruption_time_and_refuses_the_future(served, clock):
    served.clearance(subject_ids=[served.ids.subject])
    run = served.start().id
    future = served.call(
        "POST", f"/runs/{run}/truncate", json={"reason": "dead", "interrupted_at": at(clock, hours=-2)}
    )
    assert (future.status_code, future.json()["error"]) == (422, "InvalidRunInterruptedAt")
    naive = served.call(
        "POST", f"/runs/{run}/truncate", json={"reason": "dead", "interrupted_at": "2026-05-20T14:00:00"}
    )
    assert naive.json()["error"] == "InvalidRunInterruptedAt"
    clock.advance(hours=3)
    guess = at(clock, hours=2)
    closed = served.call("POST", f"/runs/{run}/truncate", json={"reason": "power cut", "interrupted_at": guess}).json()
    assert closed["status"] == "Truncated"
    assert datetime.fromisoformat(closed["interrupted_at"]) == datetime.fromisoformat(guess)


def test_readings_are_appended_once_and_refused_when_bad(served, clock):
    served.clearance(subject_ids=[served.ids.subject])
    run = served.start().id
    reading = {
        "channel_name": "ring_current",
        "value": 102.3,
        "units": "mA",
        "sampling_procedure": "baseline",
        "sampled_at": at(clock, seconds=5),
        "event_id": "r-1",
    }
    assert served.call("POST", f"/runs/{run}/readings", json=reading).json() == {"event_count": 1}
    assert served.call("POST", f"/runs/{run}/readings", json=reading).json() == {"event_count": 0}
    for change, error in [
        ({"channel_name": ""}, "InvalidChannelName"),
        ({"channel_name": "c" * 256}, "InvalidChannelName"),
        ({"value": "high"}, "InvalidReadingValue"),
        ({"value": None}, "InvalidReadingValue"),
        ({"sampling_procedure": "sometimes"}, "InvalidSamplingProcedure"),
        ({"units": "u" * 65}, "InvalidReadingUnits"),
        ({"sampled_at": at(clock, hours=-1)}, "InvalidReadingSampledAt"),
    ]:
        refused = served.call("POST", f"/runs/{run}/readings", json={**reading, "event_id": None, **change})
        assert (refused.status_code, refused.json()["error"]) == (422, error), change
    rows = served.call("GET", f"/runs/{run}/readings", "viewer").json()
    assert [(r["channel_name"], r["value"], r["actor_id"]) for r in rows] == [("ring_current", 102.3, "operator-1")]
    served.call("POST", f"/runs/{run}/complete")
    closed = served.call("POST", f"/runs/{run}/readings", json={**reading, "event_id": "r-2"})
    assert (closed.status_code, closed.json()["error"]) == (409, "RunReadingLogbookClosed")


def test_unknown_runs_are_404_on_every_slice(served):
    for method, path, body in [
        ("GET", "/runs/nope", None),
        ("POST", "/runs/nope/hold", None),
        ("POST", "/runs/nope/resume", None),
        ("POST", "/runs/nope/complete", None),
        ("POST", "/runs/nope/abort", {"reason": "r"}),
        ("POST", "/runs/nope/stop", {"reason": "r"}),
        ("POST", "/runs/nope/truncate", {"reason": "r"}),
        (
            "POST",
            "/runs/nope/readings",
            {"channel_name": "c", "value": 1, "sampling_procedure": "baseline", "sampled_at": timestamp(NOW)},
        ),
        ("GET", "/runs/nope/readings", None),
    ]:
        answer = served.call(method, path, json=body)
        assert (answer.status_code, answer.json()["error"]) == (404, "RunNotFound"), path
    adjust = served.call("POST", "/runs/nope/adjust", key=True, json={"parameter_patch": {"a": 1}, "reason": "r"})
    assert adjust.json()["error"] == "RunNotFound"


def test_listing_pages_by_keyset_and_stays_stable_under_inserts(served):
    served.clearance(subject_ids=[served.ids.subject])
    first = [served.start(name=f"scan {n}").id for n in range(7)]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = served.call("GET", "/runs", "viewer", params=params).json()
        seen += [run["id"] for run in page["items"]]
        served.start(name="arrived while listing")  # newer than every page still to come
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(first))


def test_listing_filters(served, clock):
    served.clearance(subject_ids=[served.ids.subject])
    early = served.start(name="early").id
    served.call("POST", f"/runs/{early}/complete")
    clock.advance(hours=1)
    middle = timestamp(clock.current)
    late = served.start(name="late").id
    listed = lambda **params: [r["id"] for r in served.call("GET", "/runs", "viewer", params=params).json()["items"]]  # noqa: E731
    assert listed(status="Completed") == [early]
    assert listed(status="Running") == [late]
    assert listed(created_from=middle) == [late]
    assert listed(created_before=middle) == [early]
    assert listed(plan_id=served.ids.plan, subject_id=served.ids.subject) == [late, early]
    assert listed(plan_id="other") == []
    for params, error in [
        ({"limit": 0}, "InvalidListQuery"),
        ({"limit": 501}, "InvalidListQuery"),
        ({"created_from": "yesterday"}, "InvalidListQuery"),
        ({"cursor": "forged"}, "InvalidCursor"),
    ]:
        refused = served.call("GET", "/runs", "viewer", params=params)
        assert (refused.status_code, refused.json()["error"]) == (422, error)


def test_logbook_rows_carry_their_three_times(served, clock):
    served.clearance(subject_ids=[served.ids.subject])
    run = served.start().id
    sampled = at(clock, seconds=30)
    served.call("POST", f"/runs/{run}/readings", json={"channel_name": "I0", "value": 1.5, "sampling_procedure":
                                                       "monitor", "sampled_at": sampled})
    (row,) = served.call("GET", f"/runs/{run}/readings", "viewer").json()
    assert datetime.fromisoformat(row["sampled_at"]) == datetime.fromisoformat(sampled)
    assert datetime.fromisoformat(row["occurred_at"]) >= datetime.fromisoformat(row["sampled_at"])
    assert row["recorded_at"] and row["actor_id"] == "operator-1" and row["command_name"] == "AppendRunReading"
