"""The profile's beamline model loads into every store, once, whatever the number of starts."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from cora_bluesky.application.beamline import load_beamline
from cora_bluesky.domain import errors as e

MODEL = Path(__file__).resolve().parents[2] / "profile_collection" / "beamline.toml"


def test_the_model_loads_once_with_its_containment_and_pvs(record):
    model = tomllib.loads(MODEL.read_text())
    ids = load_beamline(record, model, substitutions={"pss": "PA:02BM:"})
    again = load_beamline(record, model, substitutions={"pss": "PA:02BM:"})
    assert again == ids
    assert ids["outside_hutches"] == ["ring_current"]
    assert len(record.list_assets().items) == len(model["assets"])
    hutch_b = record.get_enclosure(ids["enclosures"]["2-BM-B"])
    assert hutch_b.secured_pv == "PA:02BM:B:SECURED" and hutch_b.shutter_pvs == ("PA:02BM:B:SHUTTER",)
    stage = record.get_asset(ids["assets"]["rotation stage"])
    table = record.get_asset(stage.parent_id)
    assert table.name == "experiment table" and table.enclosure_id == hutch_b.id and stage.enclosure_id is None
    plan = record.find_plan("tomo_scan")
    assert plan.default_parameters == {"exposure_time_ms": 50, "num_angles": 36}
    assert set(plan.asset_ids) == {ids["assets"]["rotation stage"], ids["assets"]["camera"]}
    assert record.get_method(plan.method_id).parameters_schema["required"] == ["exposure_time_ms", "num_angles"]


def test_a_model_naming_what_it_never_describes_is_refused(record):
    with pytest.raises(e.InvalidInputError, match="ghost"):
        load_beamline(record, {"assets": [{"name": "stage", "family": "f", "parent": "ghost"}]})
    assert record.list_assets().items == []


@pytest.mark.parametrize("outside", ["ring_current", [""], [3]])
def test_outside_hutches_must_list_names_or_patterns(record, outside):
    with pytest.raises(e.InvalidInputError, match="outside_hutches"):
        load_beamline(record, {"outside_hutches": outside})
