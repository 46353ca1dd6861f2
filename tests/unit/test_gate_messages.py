"""The gate and the procedure declaration, driven by iterating Msgs without a RunEngine."""

from __future__ import annotations

import pytest
from bluesky.utils import Msg
from support import build_beamline

import cora_bluesky
from cora_bluesky.domain import errors as e
from cora_bluesky.plans import CoraGate, procedure_wrapper


def drive(plan, responses=None):
    """Iterate a plan as a RunEngine would, answering open_run with a uid; return the Msgs."""
    seen, reply = [], None
    try:
        while True:
            msg = plan.send(reply)
            seen.append(msg)
            reply = f"uid-{len(seen)}" if msg.command == "open_run" else None
    except StopIteration:
        return seen


def simple_run(md):
    yield Msg("open_run", **md)
    yield Msg("null")
    yield Msg("close_run")


@pytest.fixture
def record(tmp_path):
    record = cora_bluesky.connect(f"sqlite:///{tmp_path / 'r.db'}", permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    yield record
    record.close()


def test_accepted_open_run_carries_the_cora_run_id(record):
    ids = build_beamline(record)
    msgs = drive(CoraGate(record)(simple_run({"plan_name": "tomo_scan", "subject_id": ids.subject})))
    assert [m.command for m in msgs] == ["open_run", "null", "close_run"]
    run = record.get_run(msgs[0].kwargs["cora_run_id"])
    assert run.plan_id == ids.plan and run.status == "Running"


def test_refused_open_run_never_reaches_the_runengine(record):
    ids = build_beamline(record, activate=False)
    plan = CoraGate(record)(simple_run({"plan_name": "tomo_scan", "subject_id": ids.subject}))
    with pytest.raises(e.RunRequiresActiveClearanceError):
        drive(plan)
    assert record.list_runs().items == []


def test_procedure_wrapper_declares_once_and_the_gate_starts_it(record):
    ids = build_beamline(record)
    wrapped = procedure_wrapper(simple_run({}), name="find rotation center", kind="alignment", target_asset_ids=[ids.stage])
    msgs = drive(CoraGate(record)(wrapped))
    (opening,) = [m for m in msgs if m.command == "open_run"]
    assert opening.kwargs["cora_procedure"]["kind"] == "alignment"
    procedure = record.get_procedure(opening.kwargs["cora_procedure_id"])
    assert procedure.status == "Running" and procedure.target_asset_ids == (ids.stage,)


def test_a_refused_procedure_leaves_nothing_behind(record):
    ids = build_beamline(record)
    record.decommission_asset(ids.stage)
    wrapped = procedure_wrapper(simple_run({}), name="align", kind="alignment", target_asset_ids=[ids.stage])
    with pytest.raises(e.ProcedureAssetDecommissionedError):
        drive(CoraGate(record)(wrapped))
    assert record.list_procedures().items == []


def test_external_refs_and_principal_come_from_metadata(record):
    ids = build_beamline(record)
    md = {"plan_name": "tomo_scan", "subject_id": ids.subject, "proposal_id": "GUP-1", "data_session": "pass-9",
          "operator": "jdoe", "cora_parameters": {"angles": 90}}
    msgs = drive(CoraGate(record)(simple_run(md)))
    run = record.get_run(msgs[0].kwargs["cora_run_id"])
    assert {(r.scheme, r.id) for r in run.external_refs} == {("proposal", "GUP-1"), ("data_session", "pass-9")}
    assert run.triggered_by == "jdoe"
    assert run.effective_parameters == {"exposure": 0.1, "angles": 90}
