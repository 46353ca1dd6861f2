"""Procedure, clearance, equipment, recipe, subject and calibration slices over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cora_bluesky.application.codec import timestamp


def ok(answer, status: int = 200):
    assert answer.status_code == status, answer.text
    return answer.json() if answer.content else None


def refused(answer, status: int, error: str):
    assert (answer.status_code, answer.json()["error"]) == (status, error), answer.text
    assert answer.json()["message"]
    return answer.json()


def register_procedure(served, **fields) -> str:
    body = {"name": "rotation center alignment", "kind": "alignment", "target_asset_ids": [served.ids.stage], **fields}
    return ok(served.call("POST", "/procedures", key=True, json=body), 201)["procedure_id"]


def test_procedure_lifecycle_with_steps(served, clock):
    procedure = register_procedure(served)
    assert ok(served.call("GET", f"/procedures/{procedure}", "viewer"))["status"] == "Defined"
    refused(served.call("POST", f"/procedures/{procedure}/complete"), 409, "ProcedureCannotComplete")
    step = {
        "event_id": "s-1",
        "step_kind": "setpoint",
        "payload": {"channel": "rot", "target_value": 90.0},
        "sampled_at": timestamp(clock.current - timedelta(seconds=1)),
    }
    refused(
        served.call("POST", f"/procedures/{procedure}/steps", json={"entries": [step]}),
        409,
        "ProcedureStepsLogbookClosed",
    )
    assert served.call("POST", f"/procedures/{procedure}/start").status_code == 204
    refused(served.call("POST", f"/procedures/{procedure}/start"), 409, "ProcedureCannotStart")
    check = {
        **step,
        "event_id": "s-2",
        "step_kind": "check",
        "payload": {"expected": 90.0, "actual": 89.998, "passed": True},
    }
    assert ok(served.call("POST", f"/procedures/{procedure}/steps", json={"entries": [step, check]})) == {
        "event_count": 2
    }
    assert ok(served.call("POST", f"/procedures/{procedure}/steps", json={"entries": [step]})) == {"event_count": 0}
    refused(
        served.call("POST", f"/procedures/{procedure}/steps", json={"entries": [{**step, "step_kind": "wiggle"}]}),
        422,
        "InvalidStepKind",
    )
    refused(
        served.call("POST", f"/procedures/{procedure}/steps", json={"entries": [{**step, "payload": [1]}]}),
        422,
        "InvalidStepPayload",
    )
    refused(served.call("POST", f"/procedures/{procedure}/steps", json={"entries": []}), 422, "InvalidRequest")
    rows = ok(served.call("GET", f"/procedures/{procedure}/steps", "viewer"))
    assert [(r["step_kind"], r["actor_id"]) for r in rows] == [("setpoint", "operator-1"), ("check", "operator-1")]
    assert served.call("POST", f"/procedures/{procedure}/complete").status_code == 204
    state = ok(served.call("GET", f"/procedures/{procedure}", "viewer"))
    assert state["status"] == "Completed" and state["steps_logbook_id"]
    refused(
        served.call("POST", f"/procedures/{procedure}/steps", json={"entries": [{**step, "event_id": "s-3"}]}),
        409,
        "ProcedureStepsLogbookClosed",
    )
    for verb, error in (("abort", "ProcedureCannotAbort"), ("truncate", "ProcedureCannotTruncate")):
        refused(served.call("POST", f"/procedures/{procedure}/{verb}", json={"reason": "late"}), 409, error)


def test_procedure_registration_and_exit_refusals(served, clock):
    for fields, error in [({"name": " "}, "InvalidProcedureName"), ({"kind": "k" * 51}, "InvalidProcedureKind")]:
        refused(served.call("POST", "/procedures", key=True, json={"name": "n", "kind": "k", **fields}), 422, error)
    refused(served.call("POST", "/procedures", json={"name": "n", "kind": "k"}), 422, "IdempotencyKeyRequired")
    served.call("POST", f"/assets/{served.ids.stage}/decommission", "admin")
    procedure = register_procedure(served)
    refused(served.call("POST", f"/procedures/{procedure}/start"), 409, "ProcedureAssetDecommissioned")
    other = register_procedure(served, target_asset_ids=[served.ids.camera])
    served.call("POST", f"/procedures/{other}/start")
    refused(served.call("POST", f"/procedures/{other}/abort", json={"reason": ""}), 422, "InvalidProcedureAbortReason")
    refused(
        served.call("POST", f"/procedures/{other}/truncate", json={"reason": " "}),
        422,
        "InvalidProcedureTruncateReason",
    )
    future = timestamp(clock.current + timedelta(hours=1))
    refused(
        served.call("POST", f"/procedures/{other}/truncate", json={"reason": "crash", "interrupted_at": future}),
        422,
        "InvalidProcedureInterruptedAt",
    )
    assert served.call("POST", f"/procedures/{other}/abort", json={"reason": "stage stalled"}).status_code == 204
    assert ok(served.call("GET", f"/procedures/{other}", "viewer"))["last_status_reason"] == "stage stalled"
    for method, path in [
        ("GET", "/procedures/nope"),
        ("POST", "/procedures/nope/start"),
        ("POST", "/procedures/nope/complete"),
        ("GET", "/procedures/nope/steps"),
    ]:
        refused(served.call(method, path), 404, "ProcedureNotFound")
    listed = ok(served.call("GET", "/procedures", "viewer", params={"status": "Aborted"}))
    assert [p["id"] for p in listed["items"]] == [other]


def test_a_clearance_walks_its_review_and_opens_the_gate(served):
    forms = ok(served.call("GET", "/clearance-form-types", "viewer"))
    assert len(forms) == 10 and "aps-esaf" in {form["code"] for form in forms}
    refused(
        served.call("POST", "/clearances", json={"form_type": "aps-esaf", "title": "ESAF"}),
        422,
        "InvalidClearanceBindings",
    )
    refused(
        served.call(
            "POST", "/clearances", json={"form_type": "no-such-form", "title": "t", "subject_ids": [served.ids.subject]}
        ),
        404,
        "ClearanceFormTypeNotFound",
    )
    made = ok(
        served.call(
            "POST",
            "/clearances",
            json={
                "form_type": "aps-esaf",
                "title": "ESAF 271828",
                "subject_ids": ["placeholder"],
                "hazards": ["x-rays"],
            },
        ),
        201,
    )
    clearance = made["id"]
    assert made["hazards"] == ["x-rays"] and made["status"] == "Defined"
    ok(served.call("POST", f"/clearances/{clearance}/bind", json={"subject_ids": [served.ids.subject]}))
    refused(served.call("POST", f"/clearances/{clearance}/start-review", "safety"), 409, "ClearanceCannotStartReview")
    ok(served.call("POST", f"/clearances/{clearance}/submit"))
    refused(served.call("POST", f"/clearances/{clearance}/bind", json={"asset_ids": ["a"]}), 409, "ClearanceCannotBind")
    refused(served.call("POST", f"/clearances/{clearance}/submit"), 409, "ClearanceCannotSubmit")
    refused(served.call("POST", f"/clearances/{clearance}/approve", "safety"), 409, "ClearanceCannotApprove")
    ok(served.call("POST", f"/clearances/{clearance}/start-review", "safety"))
    refused(served.call("POST", f"/clearances/{clearance}/activate", "safety"), 409, "ClearanceCannotActivate")
    ok(served.call("POST", f"/clearances/{clearance}/approve", "safety"))
    assert served.start().body["error"] == "RunClearanceCoverageMismatch"  # approved is not yet in force
    assert ok(served.call("POST", f"/clearances/{clearance}/activate", "safety"))["status"] == "Active"
    assert served.start().status == 201
    ok(served.call("POST", f"/clearances/{clearance}/expire", "safety"))
    assert served.start().body["error"] == "RunClearanceCoverageMismatch"
    refused(served.call("POST", f"/clearances/{clearance}/expire", "safety"), 409, "ClearanceCannotExpire")
    refused(
        served.call("POST", f"/clearances/{clearance}/supersede", "safety", json={"reason": "amended"}),
        409,
        "ClearanceCannotSupersede",
    )
    listed = ok(served.call("GET", "/clearances", "viewer", params={"status": "Expired"}))
    assert [c["id"] for c in listed["items"]] == [clearance]
    refused(served.call("GET", "/clearances/nope", "viewer"), 404, "ClearanceNotFound")


def test_rejection_and_supersession_need_reasons(served):
    first = ok(
        served.call(
            "POST", "/clearances", json={"form_type": "aps-esaf", "title": "A", "subject_ids": [served.ids.subject]}
        ),
        201,
    )["id"]
    ok(served.call("POST", f"/clearances/{first}/submit"))
    refused(
        served.call("POST", f"/clearances/{first}/reject", "safety", json={"reason": ""}), 422, "InvalidClearanceReason"
    )
    assert (
        ok(served.call("POST", f"/clearances/{first}/reject", "safety", json={"reason": "no shielding plan"}))["status"]
        == "Rejected"
    )
    refused(
        served.call("POST", f"/clearances/{first}/reject", "safety", json={"reason": "again"}),
        409,
        "ClearanceCannotReject",
    )
    second = ok(
        served.call(
            "POST", "/clearances", json={"form_type": "aps-esaf", "title": "B", "subject_ids": [served.ids.subject]}
        ),
        201,
    )["id"]
    done = ok(
        served.call(
            "POST", f"/clearances/{second}/supersede", "safety", json={"reason": "amended", "superseded_by": first}
        )
    )
    assert (done["status"], done["superseded_by"]) == ("Superseded", first)


def test_equipment_recipes_and_subjects(served):
    hutch = ok(served.call("POST", "/enclosures", "admin", json={"name": "2-BM-C", "secured_pv": "PA:02BM:STA_C"}), 201)
    refused(
        served.call("POST", "/enclosures", "admin", json={"name": "2-BM-C", "secured_pv": "PA:X"}),
        409,
        "EnclosureAlreadyExists",
    )
    refused(
        served.call("POST", "/enclosures", "admin", json={"name": "C", "secured_pv": "has space"}),
        422,
        "InvalidEnclosurePv",
    )
    assert ok(served.call("GET", f"/enclosures/{hutch['id']}", "viewer"))["name"] == "2-BM-C"
    assert len(ok(served.call("GET", "/enclosures", "viewer"))["items"]) == 3
    table = ok(
        served.call(
            "POST", "/assets", "admin", json={"name": "table C", "family": "table", "enclosure_id": hutch["id"]}
        ),
        201,
    )
    stage = ok(
        served.call(
            "POST",
            "/assets",
            "admin",
            json={"name": "stage C", "family": "rotation_stage", "parent_id": table["id"], "device_names": ["rotc"]},
        ),
        201,
    )
    refused(
        served.call("POST", f"/assets/{table['id']}/move", "admin", json={"parent_id": stage["id"]}),
        409,
        "AssetContainmentCycle",
    )
    refused(served.call("POST", "/assets", "admin", json={"name": "", "family": "f"}), 422, "InvalidAssetName")
    refused(
        served.call("POST", "/assets", "admin", json={"name": "n", "family": "f", "device_names": ["a", "a"]}),
        422,
        "InvalidAssetDeviceNames",
    )
    ok(served.call("POST", f"/assets/{stage['id']}/decommission", "admin"))
    refused(served.call("POST", f"/assets/{stage['id']}/decommission", "admin"), 409, "AssetCannotDecommission")
    refused(served.call("GET", "/assets/nope", "viewer"), 404, "AssetNotFound")
    assert (
        ok(served.call("GET", "/assets", "viewer", params={"status": "Decommissioned"}))["items"][0]["id"]
        == stage["id"]
    )

    schema = {"type": "object", "properties": {"dwell": {"type": "number", "minimum": 0}}}
    method = ok(served.call("POST", "/methods", "admin", json={"name": "xanes", "parameters_schema": schema}), 201)
    refused(
        served.call("POST", "/methods", "admin", json={"name": "bad", "parameters_schema": {"type": 12}}),
        422,
        "InvalidMethodSchema",
    )
    refused(served.call("POST", "/methods", "admin", json={"name": "xanes"}), 409, "MethodAlreadyExists")
    plan = ok(
        served.call(
            "POST",
            "/plans",
            "admin",
            json={"name": "xanes_scan", "method_id": method["id"], "default_parameters": {"dwell": 1}},
        ),
        201,
    )
    refused(served.call("POST", "/plans", "admin", json={"name": "p", "method_id": "nope"}), 404, "MethodNotFound")
    assert ok(served.call("POST", f"/plans/{plan['id']}/deprecate", "admin"))["status"] == "Deprecated"
    refused(served.call("POST", f"/plans/{plan['id']}/deprecate", "admin"), 409, "PlanCannotDeprecate")
    assert ok(served.call("GET", f"/methods/{method['id']}", "viewer"))["parameters_schema"] == schema
    assert (
        ok(served.call("GET", "/plans", "viewer", params={"status": "Deprecated"}))["items"][0]["name"] == "xanes_scan"
    )

    subject = ok(served.call("POST", "/subjects", json={"name": "sn-2024-039"}), 201)
    refused(served.call("POST", f"/subjects/{subject['id']}/measured"), 409, "SubjectCannotMarkMeasured")
    assert ok(served.call("POST", f"/subjects/{subject['id']}/mount"))["status"] == "Mounted"
    assert ok(served.call("POST", f"/subjects/{subject['id']}/measured"))["status"] == "Measured"
    assert ok(served.call("POST", f"/subjects/{subject['id']}/unmount"))["status"] == "Unmounted"
    refused(served.call("POST", f"/subjects/{subject['id']}/unmount"), 409, "SubjectCannotUnmount")
    refused(served.call("POST", "/subjects", json={"name": " "}), 422, "InvalidSubjectName")
    refused(served.call("GET", "/subjects/nope", "viewer"), 404, "SubjectNotFound")


def test_calibrations_from_a_procedure_are_listed_per_asset_and_quantity(served):
    procedure = register_procedure(served)
    served.call("POST", f"/procedures/{procedure}/start")
    body = {
        "asset_id": served.ids.stage,
        "quantity": "rotation_center",
        "value": 1023.5,
        "units": "px",
        "source": {"kind": "procedure", "ref": procedure},
    }
    first = ok(served.call("POST", "/calibrations", json=body), 201)
    second = ok(served.call("POST", "/calibrations", json={**body, "value": 1024.0}), 201)
    ok(served.call("POST", "/calibrations", json={**body, "quantity": "tilt", "value": 0.1}), 201)
    listed = ok(
        served.call(
            "GET", "/calibrations", "viewer", params={"asset_id": served.ids.stage, "quantity": "rotation_center"}
        )
    )
    assert [c["id"] for c in listed] == [first["id"], second["id"]]
    assert len(ok(served.call("GET", "/calibrations", "viewer", params={"asset_id": served.ids.stage}))) == 3
    assert ok(served.call("GET", f"/calibrations/{first['id']}", "viewer"))["source"]["ref"] == procedure
    refused(served.call("POST", "/calibrations", json={**body, "value": "NaN"}), 422, "InvalidCalibrationValue")
    refused(
        served.call("POST", "/calibrations", json={**body, "source": {"kind": "run", "ref": "r"}}),
        422,
        "InvalidCalibrationSource",
    )
    refused(served.call("POST", "/calibrations", json={**body, "asset_id": "nope"}), 404, "AssetNotFound")
    refused(served.call("GET", "/calibrations", "viewer", params={"asset_id": "nope"}), 404, "AssetNotFound")
    refused(served.call("GET", "/calibrations/nope", "viewer"), 404, "CalibrationNotFound")


@pytest.mark.parametrize(
    "path", ["/clearances", "/enclosures", "/assets", "/methods", "/plans", "/subjects", "/procedures", "/tokens"]
)
def test_every_listing_pages(served, path):
    first = served.call("GET", path, "admin", params={"limit": 1})
    assert first.status_code == 200 and len(first.json()["items"]) <= 1
    if first.json()["next"]:
        second = served.call("GET", path, "admin", params={"limit": 1, "cursor": first.json()["next"]}).json()
        assert second["items"] and second["items"][0]["id"] != first.json()["items"][0]["id"]
