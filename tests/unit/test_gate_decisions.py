"""The gate's decisions on final metadata and on devices, without a RunEngine."""

from __future__ import annotations

import pytest
from ophyd import Component as Cpt
from ophyd import Device
from ophyd.sim import SynAxis
from support import build_beamline

import cora_bluesky
from cora_bluesky.domain import errors as e
from cora_bluesky.plans import CoraGate, procedure_wrapper
from cora_bluesky.plans.gate import _enclosing_names
from cora_bluesky.plans.procedures import PROCEDURE_KEY, ProcedureDeclaration


@pytest.fixture
def record(tmp_path):
    record = cora_bluesky.connect(f"sqlite:///{tmp_path / 'r.db'}", permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    yield record
    record.close()


def declared(plan) -> ProcedureDeclaration:
    """The declaration procedure_wrapper puts on the plan's open_run."""
    for msg in plan:
        if msg.command == "open_run":
            return msg.kwargs[PROCEDURE_KEY]
    raise AssertionError("the plan opened no run")


def opening():
    from bluesky.utils import Msg

    yield Msg("open_run")
    yield Msg("close_run")


def test_an_accepted_run_is_started_with_its_devices_assets(record):
    ids = build_beamline(record)
    kind, ident, assets = CoraGate(record).start({"plan_name": "tomo_scan", "subject_id": ids.subject, "motors": ["rot"]})
    run = record.get_run(ident)
    assert kind == "run" and run.plan_id == ids.plan and run.status == "Running"
    assert set(assets) == set(run.asset_ids) == {ids.stage, ids.camera}


def test_a_refused_run_writes_nothing(record):
    ids = build_beamline(record, activate=False)
    with pytest.raises(e.RunRequiresActiveClearanceError):
        CoraGate(record).start({"plan_name": "tomo_scan", "subject_id": ids.subject})
    assert record.list_runs().items == []


def test_procedure_wrapper_declares_once_and_the_gate_starts_it(record):
    ids = build_beamline(record)
    declaration = declared(procedure_wrapper(opening(), name="find rotation center", kind="alignment",
                                             target_asset_ids=[ids.stage]))
    assert type(declaration) is ProcedureDeclaration and declaration["kind"] == "alignment"
    kind, ident, _ = CoraGate(record).start({PROCEDURE_KEY: declaration, "plan_name": "opening"})
    procedure = record.get_procedure(ident)
    assert kind == "procedure" and procedure.status == "Running" and procedure.target_asset_ids == (ids.stage,)


@pytest.mark.parametrize("forged", [
    {PROCEDURE_KEY: {"name": "align", "kind": "alignment"}},  # a plain mapping: from JSON, or typed in
    {"cora_run_id": "r-1"},
    {"cora_procedure_id": "p-1"},
])
def test_reserved_keys_in_the_metadata_are_refused(record, forged):
    ids = build_beamline(record)
    with pytest.raises(e.ReservedMetadataError) as refused:
        CoraGate(record).start({"plan_name": "tomo_scan", "subject_id": ids.subject, **forged})
    assert refused.value.data["keys"] == sorted(forged)
    assert record.list_runs().items == [] and record.list_procedures().items == []


def test_a_genuine_declaration_from_user_metadata_is_refused(record):
    ids = build_beamline(record)
    declaration = declared(procedure_wrapper(opening(), name="align", kind="alignment", target_asset_ids=[ids.stage]))
    with pytest.raises(e.ReservedMetadataError):
        CoraGate(record).start({PROCEDURE_KEY: declaration}, user_keys=[PROCEDURE_KEY])


def test_a_declaration_procedure_wrapper_did_not_make_is_refused(record):
    ids = build_beamline(record)
    forged = ProcedureDeclaration(name="align", kind="alignment", target_asset_ids=[ids.stage], target_devices=[])
    with pytest.raises(e.ReservedMetadataError):
        CoraGate(record).start({PROCEDURE_KEY: forged})
    assert record.list_procedures().items == []


def test_a_refused_procedure_leaves_nothing_behind(record):
    ids = build_beamline(record)
    record.decommission_asset(ids.stage)
    declaration = declared(procedure_wrapper(opening(), name="align", kind="alignment", target_asset_ids=[ids.stage]))
    with pytest.raises(e.ProcedureAssetDecommissionedError):
        CoraGate(record).start({PROCEDURE_KEY: declaration})
    assert record.list_procedures().items == []


def test_external_refs_and_principal_come_from_metadata(record):
    ids = build_beamline(record)
    md = {"plan_name": "tomo_scan", "subject_id": ids.subject, "proposal_id": "GUP-1", "data_session": "pass-9",
          "operator": "jdoe", "cora_parameters": {"angles": 90}}
    _, ident, _ = CoraGate(record).start(md)
    run = record.get_run(ident)
    assert {(r.scheme, r.id) for r in run.external_refs} == {("proposal", "GUP-1"), ("data_session", "pass-9")}
    assert run.triggered_by == "jdoe"
    assert run.effective_parameters == {"exposure": 0.1, "angles": 90}


def test_unplaceable_names_in_the_metadata_are_refused_and_declared_ones_pass(record):
    ids = build_beamline(record)
    md = {"plan_name": "tomo_scan", "subject_id": ids.subject, "detectors": ["cam", "ring_current", "stray"]}
    with pytest.raises(e.RunRequiresKnownDevicesError) as refused:
        CoraGate(record, outside_hutches=["ring_*"]).start(md)
    assert refused.value.data["devices"] == ["stray"]
    gate = CoraGate(record, outside_hutches=["ring_*", "stray"])
    assert gate.start(md)[0] == "run"


@pytest.mark.parametrize("pattern", ["", "   ", None, 3])
def test_a_blank_outside_pattern_is_refused(record, pattern):
    with pytest.raises(e.InvalidInputError):
        CoraGate(record, outside_hutches=[pattern])


def test_component_names_walk_up_both_conventions():
    assert _enclosing_names("tomo_stage_x") == ["tomo_stage_x", "tomo_stage", "tomo"]
    assert _enclosing_names("stage-x") == ["stage-x", "stage"]
    assert _enclosing_names("_x") == ["_x"]


class Stage(Device):
    x = Cpt(SynAxis)


def test_a_device_is_placed_by_its_nearest_known_ancestor(record):
    ids = build_beamline(record)
    gate = CoraGate(record)
    rotary = Stage(name="rot")  # the asset answers to the parent; the component is rot_x
    assert gate._place_device(rotary.x) == [ids.stage]
    assert gate._place_device(SynAxis(name="cam")) == [ids.camera]
    with pytest.raises(e.RunRequiresKnownDevicesError) as refused:
        gate._place_device(Stage(name="stray").x)
    assert refused.value.data["devices"] == ["stray_x"]
