"""Response models are the record's public shape: each serves a subset of its state, named alike."""

from __future__ import annotations

import dataclasses

from cora_bluesky.application import responses as out
from cora_bluesky.application.aggregates import AGGREGATES

#: state -> the model it is served as
SERVED_AS = {
    "run": out.RunOut,
    "procedure": out.ProcedureOut,
    "clearance": out.ClearanceOut,
    "asset": out.AssetOut,
    "enclosure": out.EnclosureOut,
    "subject": out.SubjectOut,
    "method": out.MethodOut,
    "plan": out.PlanOut,
    "calibration": out.CalibrationOut,
    "token": out.TokenOut,
    "principal": out.PrincipalOut,
}


def test_every_aggregate_is_served_through_a_model_of_its_own():
    assert set(SERVED_AS) == set(AGGREGATES)
    for kind, model in SERVED_AS.items():
        state = {field.name for field in dataclasses.fields(AGGREGATES[kind].state_type)}
        assert set(model.model_fields) <= state, (kind, set(model.model_fields) - state)


def test_a_token_is_never_served_with_its_hash():
    assert "secret_hash" not in out.TokenOut.model_fields
    assert "secret_hash" not in out.TokenIssuedOut.model_fields and "token" in out.TokenIssuedOut.model_fields


def test_a_field_the_state_gains_is_not_served_until_a_model_names_it():
    from cora_bluesky.application.slices import BY_TOOL, adapter

    row = BY_TOOL["get_run"]
    state = {"subject_id": None, "raid": None, "triggered_by": None, "campaign_id": None} | {
        "id": "run-1", "name": "scan", "plan_id": "p", "method_id": "m", "status": "Running",
        "asset_ids": [], "override_parameters": {}, "effective_parameters": {}, "external_refs": [],
        "pinned_calibrations": [], "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00", "datasets": [], "adjustment_count": 0,
        "held_internally": "never served",
    }
    model = adapter(row.response)
    served = model.dump_python(model.validate_python(state), mode="json")
    assert "held_internally" not in served and served["id"] == "run-1"
