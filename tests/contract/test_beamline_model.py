"""The beamline model: checked with every mistake named, reconciled into every store by named events."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from cora_bluesky.application.beamline import apply_model, diff_model, load_beamline
from cora_bluesky.application.beamline_model import check_model, read_model
from cora_bluesky.domain import errors as e

MODEL = Path(__file__).resolve().parents[2] / "profile_collection" / "beamline.toml"


def profile_model(prefix: str = "PA:02BM:") -> dict:
    return check_model(tomllib.loads(MODEL.read_text()), substitutions={"pss": prefix})


def kinds(record, stream: str) -> list[str]:
    kind, _, ident = stream.partition(":")
    return [event.event_type for event in record.store.load(stream)]


def test_the_model_loads_once_with_its_containment_and_pvs(record):
    model = tomllib.loads(MODEL.read_text())
    ids = load_beamline(record, model, substitutions={"pss": "PA:02BM:"})
    again = load_beamline(record, model, substitutions={"pss": "PA:02BM:"})
    assert again == ids
    assert [c for c in diff_model(record, profile_model()) if c.recorded] == []
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


def test_pv_names_are_literal_braces_and_all(record):
    pv = "XF:05IDA-PPS:1{PSh:2}Pos-Sts"
    ids = load_beamline(record, {"enclosures": [{"name": "05-ID-A", "secured_pv": pv, "shutter_pvs": ["{x}"]}]})
    hutch = record.get_enclosure(ids["enclosures"]["05-ID-A"])
    assert hutch.secured_pv == pv and hutch.shutter_pvs == ("{x}",)


def test_an_unknown_placeholder_is_named(record):
    with pytest.raises(e.InvalidBeamlineModelError) as refused:
        load_beamline(record, {"enclosures": [{"name": "A", "secured_pv": "${pss}A"}]})
    assert refused.value.data["entry"] == "enclosures[0] 'A'" and refused.value.data["field"] == "secured_pv"
    assert "${pss}" in refused.value.message
    assert record.list_enclosures().items == []


@pytest.mark.parametrize(
    "model, entry, field, words",
    [
        ({"asset": [{"name": "x"}]}, "(top level)", "asset", "did you mean 'assets'"),
        ({"assets": [{"name": "cam", "family": "camera", "device_name": ["cam"]}]}, "assets[0] 'cam'", "device_name",
         "did you mean 'device_names'"),
        ({"assets": [{"name": "cam"}]}, "assets[0] 'cam'", "family", "missing 'family'"),
        ({"assets": [{"name": "cam", "family": "camera", "device_names": "cam"}]}, "assets[0] 'cam'", "device_names",
         "not of type 'array'"),
        ({"enclosures": [{"name": " ", "secured_pv": "P"}]}, "enclosures[0] ' '", "name", "blank"),
        ({"assets": [{"name": "stage", "family": "f", "parent": "ghost"}]}, "assets[0] 'stage'", "parent", "ghost"),
        ({"assets": [{"name": "a", "family": "f"}, {"name": "a", "family": "f"}]}, "assets[1] 'a'", "name", "second"),
        ({"assets": [{"name": "a", "family": "f", "parent": "b"}, {"name": "b", "family": "f", "parent": "a"}]},
         "assets[0] 'a'", "parent", "cycle"),
        ({"methods": [{"name": "m"}], "plans": [{"name": "p", "method": "tomogrphy"}]}, "plans[0] 'p'", "method",
         "tomogrphy"),
        ({"outside_hutches": "ring_current"}, "outside_hutches", None, "not of type 'array'"),
        ({"outside_hutches": [""]}, "outside_hutches[0]", None, "blank"),
    ],
)
def test_every_mistake_names_the_file_the_entry_and_the_field(record, model, entry, field, words):
    with pytest.raises(e.InvalidBeamlineModelError) as refused:
        load_beamline(record, model, source="beamline.toml")
    refusal = refused.value
    assert refusal.data["file"] == "beamline.toml" and refusal.message.startswith("beamline.toml:")
    assert (refusal.data["entry"], refusal.data["field"]) == (entry, field)
    assert words in refusal.message
    assert record.list_assets().items == [] and record.list_enclosures().items == []


def test_a_model_file_is_read_with_its_name(tmp_path, record):
    path = tmp_path / "beamline.toml"
    path.write_text('[[asset]]\nname = "x"\n')
    with pytest.raises(e.InvalidBeamlineModelError, match=str(path)):
        read_model(path)
    path.write_text("[[assets]\n")
    with pytest.raises(e.InvalidBeamlineModelError, match="not valid TOML"):
        read_model(path)
    with pytest.raises(e.InvalidBeamlineModelError, match="no such file"):
        read_model(tmp_path / "missing.toml")


def test_an_edited_model_is_recorded_as_named_events_nothing_rewritten(record):
    ids = load_beamline(record, profile_model())
    before = {stream: kinds(record, stream) for stream in (
        f"enclosure:{ids['enclosures']['2-BM-B']}", f"asset:{ids['assets']['camera']}",
        f"plan:{ids['plans']['tomo_scan']}", f"method:{ids['methods']['tomography']}")}
    edited = copy.deepcopy(profile_model())
    edited["enclosures"][1]["secured_pv"] = "XF:05IDB-PPS:1{PSh:4}Pos-Sts"
    camera = next(a for a in edited["assets"] if a["name"] == "camera")
    camera.update(device_names=["camera", "camera_cam"], family="area_detector", parent="front-end shutter")
    del camera["parent"]
    camera["enclosure"] = "2-BM-A"
    plan = next(p for p in edited["plans"] if p["name"] == "tomo_scan")
    plan.update(default_parameters={"exposure_time_ms": 80, "num_angles": 36}, bluesky_names=["fly_tomo"])
    method = next(m for m in edited["methods"] if m["name"] == "tomography")
    method["parameters_schema"]["properties"]["num_angles"]["maximum"] = 7200
    method["needed_families"] = ["rotation_stage", "area_detector"]

    changes = diff_model(record, edited)
    shown = "\n".join(map(str, changes))
    assert "~ enclosure '2-BM-B'\n    secured_pv: 'PA:02BM:B:SECURED' -> 'XF:05IDB-PPS:1{PSh:4}Pos-Sts'" in shown
    assert {(c.section, c.name) for c in changes if c.recorded} == {
        ("enclosure", "2-BM-B"), ("asset", "camera"), ("plan", "tomo_scan"), ("method", "tomography")}
    assert kinds(record, f"enclosure:{ids['enclosures']['2-BM-B']}") == before[f"enclosure:{ids['enclosures']['2-BM-B']}"]

    told: list[str] = []
    assert apply_model(record, edited, say=told.append) == ids
    assert told == [str(c) for c in changes]
    for stream, added in {
        f"enclosure:{ids['enclosures']['2-BM-B']}": ["EnclosurePvsChanged"],
        f"asset:{ids['assets']['camera']}": ["AssetFamilyChanged", "AssetDevicesChanged", "AssetMoved"],
        f"plan:{ids['plans']['tomo_scan']}": ["PlanRevised"],
        f"method:{ids['methods']['tomography']}": ["MethodRevised"],
    }.items():
        assert kinds(record, stream) == before[stream] + added  # appended, never rewritten
    assert record.get_enclosure(ids["enclosures"]["2-BM-B"]).secured_pv == "XF:05IDB-PPS:1{PSh:4}Pos-Sts"
    cam = record.get_asset(ids["assets"]["camera"])
    assert (cam.family, cam.device_names, cam.parent_id, cam.enclosure_id) == (
        "area_detector", ("camera", "camera_cam"), None, ids["enclosures"]["2-BM-A"])
    assert [a.id for a in record.assets_for_devices(["camera_cam"])] == [cam.id]
    assert record.find_plan("tomo_scan").default_parameters["exposure_time_ms"] == 80
    assert record.resolve_plan("fly_tomo").id == ids["plans"]["tomo_scan"]
    assert [c for c in diff_model(record, edited) if c.recorded] == []


def test_a_plan_whose_method_changes_is_replaced_under_its_name(record):
    ids = load_beamline(record, profile_model())
    edited = copy.deepcopy(profile_model())
    next(p for p in edited["plans"] if p["name"] == "flat_field")["method"] = "tomography"
    next(p for p in edited["plans"] if p["name"] == "flat_field")["default_parameters"] = {
        "exposure_time_ms": 5, "num_angles": 2}
    (change,) = [c for c in diff_model(record, edited) if c.recorded]
    assert change.verb == "replace" and str(change).startswith("! plan 'flat_field'")
    new_ids = apply_model(record, edited)
    old = record.get_plan(ids["plans"]["flat_field"])
    assert old.status == "Deprecated"
    replacement = record.find_plan("flat_field")
    assert replacement.id == new_ids["plans"]["flat_field"] != old.id and replacement.status == "Active"
    assert record.resolve_plan("flat_field").id == replacement.id


def test_a_deprecated_plans_name_can_be_registered_again(record):
    method = record.register_method(name="m")
    first = record.register_plan(name="p", method_id=method.id)
    with pytest.raises(e.PlanAlreadyExistsError):
        record.register_plan(name="p", method_id=method.id)
    record.deprecate_plan(first.id)
    assert record.find_plan("p").id == first.id  # still found: a run under it is refused as deprecated
    second = record.register_plan(name="p", method_id=method.id)
    assert record.find_plan("p").id == second.id and record.resolve_plan("p").id == second.id
    with pytest.raises(e.PlanCannotReviseError):
        record.revise_plan(first.id, default_parameters={})


def test_what_the_record_holds_beyond_the_model_is_kept_and_listed(record):
    load_beamline(record, profile_model())
    smaller = copy.deepcopy(profile_model())
    smaller["plans"] = [p for p in smaller["plans"] if p["name"] != "dark_field"]
    (extra,) = diff_model(record, smaller)
    assert (extra.section, extra.name, extra.verb, extra.recorded) == ("plan", "dark_field", "extra", False)
    apply_model(record, smaller)
    assert record.find_plan("dark_field").status == "Active"


def test_bluesky_names_and_patterns_resolve_a_plan(record):
    method = record.register_method(name="step scan")
    steps = record.register_plan(name="step_scans", method_id=method.id, bluesky_names=["scan", "rel_scan", "*_scan"])
    grid = record.register_plan(name="grids", method_id=method.id, bluesky_names=["grid_scan"])
    assert record.resolve_plan("rel_scan").id == steps.id
    assert record.resolve_plan("grid_scan").id == grid.id  # a name listed beats a pattern
    assert record.resolve_plan("spiral_scan").id == steps.id
    assert record.resolve_plan("count") is None
    record.register_plan(name="others", method_id=method.id, bluesky_names=["*scan"])
    with pytest.raises(e.PlanNameAmbiguousError) as refused:
        record.resolve_plan("spiral_scan")
    assert refused.value.data["plans"] == ["others", "step_scans"]
    with pytest.raises(e.InvalidPlanBlueskyNamesError):
        record.register_plan(name="bad", method_id=method.id, bluesky_names=["scan", "scan"])


def test_a_decommissioned_asset_keeps_its_family_and_devices(record):
    stage = record.register_asset(name="stage", family="f", device_names=["s"])
    record.decommission_asset(stage.id)
    with pytest.raises(e.AssetCannotChangeError):
        record.change_asset_devices(stage.id, device_names=["t"])
    with pytest.raises(e.AssetCannotChangeError):
        record.change_asset_family(stage.id, family="g")
    assert record.get_asset(stage.id).device_names == ("s",)
