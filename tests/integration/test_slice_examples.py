"""One example per row of the slice table, over HTTP: a row without an example fails here.

Each example prepares what the slice needs through the Python API, performs the slice over
HTTP as a role its duty allows, and checks the status and the answer against the row.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from historic_runs import historic
from support import activate_clearance, perform

from cora_bluesky.application.run_imports import imported_run_id
from cora_bluesky.application.slices import SERVED, SLICES, adapter
from cora_bluesky.domain.access import GRANTS

Example = Callable[[Any], tuple[dict[str, str], dict[str, Any] | None]]


def _run(served, *, held: bool = False) -> str:
    if served.ids.clearance is None:
        served.ids.clearance = activate_clearance(served.record, subject_ids=[served.ids.subject]).id
    run = served.record.start_run(name="tomography", plan_id=served.ids.plan, subject_id=served.ids.subject)
    if held:
        served.record.hold_run(run.id)
    return run.id


def _procedure(served, *, started: bool = False) -> str:
    register = served.record.start_new_procedure if started else served.record.register_procedure
    return register(name="rotation axis alignment", kind="alignment", target_asset_ids=[served.ids.stage]).id


def _clearance(served, *steps: str) -> str:
    form = served.record.register_clearance(form_type="aps-esaf", title="ESAF 1", subject_ids=[served.ids.subject])
    for step in steps:
        perform(served.record, step, form.id)
    return form.id


REVIEWED = ("submit_clearance", "start_clearance_review")
APPROVED = (*REVIEWED, "approve_clearance")


def _now(served) -> str:
    """The served record's clock, which the tests set: a time from this machine may be its future."""
    return served.record.now().isoformat()


def _step(served) -> dict[str, Any]:
    return {"event_id": "step-1", "step_kind": "setpoint", "payload": {"x": 1.0}, "sampled_at": _now(served)}


def _reading(served) -> dict[str, Any]:
    return {"channel_name": "ring_current", "value": 101.5, "units": "mA", "sampling_procedure": "baseline",
            "sampled_at": _now(served), "event_id": "reading-1"}


#: tool -> (path ids, body or query) for a call that succeeds
EXAMPLES: dict[str, Example] = {
    "start_run": lambda s: (_run(s) and {}, {"name": "second run", "plan_id": s.ids.plan, "subject_id": s.ids.subject}),
    "hold_run": lambda s: ({"run_id": _run(s)}, None),
    "resume_run": lambda s: ({"run_id": _run(s, held=True)}, None),
    "complete_run": lambda s: ({"run_id": _run(s)}, None),
    "abort_run": lambda s: ({"run_id": _run(s)}, {"reason": "detector fault"}),
    "stop_run": lambda s: ({"run_id": _run(s, held=True)}, {"reason": "enough data"}),
    "truncate_run": lambda s: ({"run_id": _run(s)}, {"reason": "the IOC died", "interrupted_at": _now(s)}),
    "adjust_run": lambda s: ({"run_id": _run(s)}, {"parameter_patch": {"exposure": 0.2}, "reason": "too dark"}),
    "append_run_reading": lambda s: ({"run_id": _run(s)}, _reading(s)),
    "get_run": lambda s: ({"run_id": _run(s)}, None),
    "list_runs": lambda s: (_linked(s) and {}, {"status": "Running", "start_uid": "uid-1", "scan_id": 7}),
    "list_run_readings": lambda s: ({"run_id": _readings(s)}, {"limit": 10}),
    "register_procedure": lambda s: ({}, {"name": "alignment", "kind": "alignment"}),
    "start_procedure": lambda s: ({"procedure_id": _procedure(s)}, None),
    "append_procedure_step": lambda s: ({"procedure_id": _procedure(s, started=True)}, {"entries": [_step(s)]}),
    "complete_procedure": lambda s: ({"procedure_id": _procedure(s, started=True)}, None),
    "abort_procedure": lambda s: ({"procedure_id": _procedure(s, started=True)}, {"reason": "stage stalled"}),
    "truncate_procedure": lambda s: ({"procedure_id": _procedure(s, started=True)}, {"reason": "power cut"}),
    "get_procedure": lambda s: ({"procedure_id": _procedure(s)}, None),
    "list_procedures": lambda s: (_procedure(s) and {}, {"limit": 5}),
    "list_procedure_steps": lambda s: ({"procedure_id": _steps(s)}, {"limit": 5}),
    "register_clearance": lambda s: (
        {}, {"form_type": "aps-esaf", "title": "ESAF 2", "hazards": ["x-rays"], "subject_ids": [s.ids.subject],
             "form_number": "271829"},
    ),
    "bind_clearance": lambda s: ({"clearance_id": _clearance(s)}, {"asset_ids": [s.ids.stage]}),
    "submit_clearance": lambda s: ({"clearance_id": _clearance(s)}, None),
    "start_clearance_review": lambda s: ({"clearance_id": _clearance(s, "submit_clearance")}, None),
    "approve_clearance": lambda s: ({"clearance_id": _clearance(s, *REVIEWED)}, None),
    "activate_clearance": lambda s: ({"clearance_id": _clearance(s, *APPROVED)}, None),
    "expire_clearance": lambda s: ({"clearance_id": _clearance(s, *APPROVED)}, None),
    "reject_clearance": lambda s: ({"clearance_id": _clearance(s, *REVIEWED)}, {"reason": "no shielding plan"}),
    "supersede_clearance": lambda s: ({"clearance_id": _clearance(s, *APPROVED)}, {"reason": "amended"}),
    "get_clearance": lambda s: ({"clearance_id": _clearance(s)}, None),
    "list_clearances": lambda s: (_clearance(s) and {}, {"status": "Defined"}),
    "list_clearance_form_types": lambda s: ({}, None),
    "register_enclosure": lambda s: ({}, {"name": "2-BM-C", "secured_pv": "PA:02BM:STA_C_SECURED"}),
    "change_enclosure_pvs": lambda s: ({"enclosure_id": s.ids.hutch_a}, {"secured_pv": "XF:02BMA-PPS:1{PSh:2}Pos-Sts"}),
    "get_enclosure": lambda s: ({"enclosure_id": s.ids.hutch_a}, None),
    "list_enclosures": lambda s: ({}, {"limit": 1}),
    "register_asset": lambda s: ({}, {"name": "slits", "family": "slits", "enclosure_id": s.ids.hutch_a}),
    "move_asset": lambda s: ({"asset_id": s.ids.mono}, {"parent_id": None, "enclosure_id": s.ids.hutch_b}),
    "decommission_asset": lambda s: ({"asset_id": s.ids.mono}, None),
    "change_asset_devices": lambda s: ({"asset_id": s.ids.stage}, {"device_names": ["rot", "rot2"]}),
    "change_asset_family": lambda s: ({"asset_id": s.ids.camera}, {"family": "area_detector"}),
    "get_asset": lambda s: ({"asset_id": s.ids.stage}, None),
    "list_assets": lambda s: ({}, {"status": "Active"}),
    "record_calibration": lambda s: (
        {},
        {"asset_id": s.ids.stage, "quantity": "center", "value": 1.5, "units": "mm",
         "source": {"kind": "asserted", "ref": "beamline scientist"}},
    ),
    "get_calibration": lambda s: ({"calibration_id": _calibration(s)}, None),
    "list_calibrations": lambda s: (_calibration(s) and {}, {"asset_id": s.ids.stage, "quantity": "center"}),
    "register_subject": lambda s: ({}, {"name": "sn-2024-039"}),
    "mount_subject": lambda s: ({"subject_id": s.record.register_subject(name="sn-2").id}, None),
    "mark_subject_measured": lambda s: ({"subject_id": s.ids.subject}, None),
    "unmount_subject": lambda s: ({"subject_id": s.ids.subject}, None),
    "get_subject": lambda s: ({"subject_id": s.ids.subject}, None),
    "list_subjects": lambda s: ({}, {"status": "Mounted"}),
    "register_method": lambda s: ({}, {"name": "diffraction", "needed_families": ["camera"]}),
    "revise_method": lambda s: ({"method_id": s.ids.method}, {"needed_families": ["rotation_stage"]}),
    "get_method": lambda s: ({"method_id": s.ids.method}, None),
    "list_methods": lambda s: ({}, {"limit": 2}),
    "register_plan": lambda s: ({}, {"name": "fly_scan", "method_id": s.ids.method, "default_parameters": {"exposure": 1}}),
    "revise_plan": lambda s: ({"plan_id": s.ids.plan}, {"default_parameters": {"exposure": 0.2}, "bluesky_names": ["count"]}),
    "deprecate_plan": lambda s: ({"plan_id": s.ids.plan}, None),
    "get_plan": lambda s: ({"plan_id": s.ids.plan}, None),
    "list_plans": lambda s: ({}, {"status": "Active"}),
    "issue_token": lambda s: ({}, {"principal": "viewer-1", "role": "viewer", "expires_at": "2099-01-01T00:00:00Z"}),
    "revoke_token": lambda s: ({"token_id": s.record.issue_token(principal="viewer-1", role="viewer")[0].id}, None),
    "list_tokens": lambda s: ({}, {"limit": 10}),
    "register_principal": lambda s: ({}, {"principal_id": "beamline-portal", "roles": ["viewer"]}),
    "change_principal_roles": lambda s: ({"principal_id": "viewer-1"}, {"roles": ["viewer", "operator"]}),
    "get_principal": lambda s: ({"principal_id": "safety-1"}, None),
    "list_principals": lambda s: ({}, {"limit": 10}),
}


def _readings(served) -> str:
    run_id = _run(served)
    served.record.append_run_reading(run_id, **{**_reading(served), "sampled_at": served.record.now()})
    return run_id


def _steps(served) -> str:
    procedure_id = _procedure(served, started=True)
    served.record.append_procedure_step(procedure_id, [{**_step(served), "sampled_at": served.record.now()}])
    return procedure_id


def _calibration(served) -> str:
    from cora_bluesky.domain.calibration import CalibrationSource

    return served.record.record_calibration(
        asset_id=served.ids.stage, quantity="center", value=1.5, source=CalibrationSource.asserted("scientist")
    ).id


def _wrote(served, row, call: Callable[[], Any], aggregate_id: str) -> int:
    """How many events ``call`` appended to the aggregate's stream (or logbook rows it wrote)."""
    stream = row.aggregate.stream_id(aggregate_id)
    before = len(served.record.store.load(stream))
    result = call()
    return result if isinstance(result, int) else len(served.record.store.load(stream)) - before


def _linked(served) -> str:
    run = _run(served)
    served.record.link_run_dataset(run, start_uid="uid-1", uri="bluesky://run/uid-1", scan_id=7)
    return run


#: tool -> (aggregate id, the call) for the rows only the Python API serves (the gate's and
#: the recorder's commands)
PYTHON_EXAMPLES: dict[str, Callable[[Any], tuple[str, Callable[[], Any]]]] = {
    "join_run_assets": lambda s: (
        run := _run(s), lambda: s.record.join_run_assets(run, asset_ids=[s.ids.mono], devices=["mono"])
    ),
    "link_run_dataset": lambda s: (
        run := _run(s), lambda: s.record.link_run_dataset(run, start_uid="uid-1", uri="bluesky://run/uid-1")
    ),
    "summarize_run": lambda s: (run := _run(s), lambda: s.record.summarize_run(run, {"primary": 3})),
    "seal_run_dataset": lambda s: (
        run := _linked(s),
        lambda: s.record.seal_run_dataset(run, start_uid="uid-1", digest="0" * 64,
                                          canonical_form="bluesky-documents/1", documents=3),
    ),
    "append_run_readings": lambda s: (
        run := _run(s),
        lambda: s.record.append_run_readings(run, [{**_reading(s), "sampled_at": s.record.now()}]),
    ),
    "import_run": lambda s: (
        imported_run_id(historic(0).uid),
        lambda: s.record.import_run(historic(0).documents, source="http://127.0.0.1:1/api/v1/metadata",
                                    uri=f"http://127.0.0.1:1/api/v1/metadata/{historic(0).uid}"),
    ),
    "start_new_procedure": lambda s: (
        "p-1",
        lambda: s.record.start_new_procedure(
            name="alignment", kind="alignment", target_asset_ids=[s.ids.stage], procedure_id="p-1"
        ),
    ),
}


def test_every_row_has_an_example_and_every_example_a_row():
    assert set(EXAMPLES) == {row.tool for row in SERVED} and len(EXAMPLES) == len(SERVED)
    python = [row for row in SLICES if row.path is None]
    assert set(PYTHON_EXAMPLES) == {row.tool for row in python} and len(PYTHON_EXAMPLES) == len(python) > 0
    assert len(EXAMPLES) + len(PYTHON_EXAMPLES) == len(SLICES)


@pytest.mark.parametrize("row", [r for r in SLICES if r.path is None], ids=lambda row: row.tool)
def test_the_example_of_each_python_slice(served, row):
    aggregate_id, call = PYTHON_EXAMPLES[row.tool](served)
    assert _wrote(served, row, call, aggregate_id) >= 1, row.tool


@pytest.mark.parametrize("row", SERVED, ids=[row.tool for row in SERVED])
def test_the_example_of_each_slice(served, row):
    role = next(role.value for role, duties in GRANTS.items() if row.duty in duties)
    ids, given = EXAMPLES[row.tool](served)
    path = row.path.format(**ids)
    options: dict[str, Any] = {"key": True} if row.idempotency.value in ("required", "optional") else {}
    if row.method == "GET":
        options["params"] = given or {}
    elif given is not None:
        options["json"] = given
    answer = served.call(row.method, path, role, **options)
    assert answer.status_code == row.status_code, (row.tool, answer.text)
    if row.response is not None:
        adapter(row.response).validate_python(answer.json())
        items = answer.json().get("items") if isinstance(answer.json(), dict) else answer.json()
        assert items != [], f"{row.tool}: an example listing must list something"
