"""The 2-BM plans on a real RunEngine with the simulated devices and the PSS IOC."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from bluesky import RunEngine

from support import perform, staff
import cora_bluesky
from cora_bluesky.application.beamline import load_beamline
from cora_bluesky.domain import errors as e
from cora_bluesky.plans import tomography
from cora_bluesky.sim.devices import OPEN, build_devices

MODEL = Path(__file__).resolve().parents[2] / "profile_collection" / "beamline.toml"


@pytest.fixture
def rig(tmp_path, ioc, epics_permits):
    record = staff(cora_bluesky.connect(f"sqlite:///{tmp_path / 'r.db'}", permits=epics_permits))
    ids = load_beamline(record, tomllib.loads(MODEL.read_text()), substitutions={"pss": ioc.prefix})
    devices = build_devices(axis_offset=-4.6)
    RE = RunEngine({})
    cora = cora_bluesky.install(RE, record, spool=tmp_path / "spool", outside_hutches=ids["outside_hutches"])
    sample = record.register_subject(name="sn-1")
    record.mount_subject(sample.id)
    form = record.register_clearance(form_type="aps-esaf", title="ESAF", asset_ids=[ids["assets"]["camera"]])
    for step in ("submit_clearance", "start_clearance_review", "approve_clearance", "activate_clearance"):
        perform(record, step, form.id)
    yield RE, cora, record, ids, devices, sample.id
    record.close()


def test_reference_frames_are_runs_without_a_subject(rig):
    RE, cora, record, ids, d, _ = rig
    frames = []
    RE.subscribe(lambda name, doc: frames.append(doc["data"]["camera_image"]) if name == "event" else None)
    RE(tomography.dark_field(d.camera, d.station_shutter, frames=3))
    assert d.station_shutter.get() == OPEN  # opened again after the darks
    RE(tomography.flat_field(d.camera, d.sample_x))
    assert cora.flush(10)
    dark, flat = sorted(record.list_runs().items, key=lambda run: run.created_at)
    assert (dark.name, dark.subject_id, dark.status, dark.effective_parameters) == (
        "dark_field", None, "Completed", {"frames": 3}
    )
    assert (flat.name, flat.subject_id, flat.status) == ("flat_field", None, "Completed")
    assert all(float(f[0][0]) == 10.0 for f in frames[:3])  # dark current only
    assert all(float(min(map(min, f))) > 500 for f in frames[3:])  # open beam, sample out


def test_the_alignment_is_a_procedure_that_recovers_the_axis(rig):
    RE, cora, record, ids, d, _ = rig
    RE(tomography.find_rotation_center(d.camera, d.rotation))
    assert cora.flush(10)
    (procedure,) = record.list_procedures().items
    (center,) = record.active_calibrations([ids["assets"]["rotation stage"]])
    assert procedure.status == "Completed" and center.source.ref == procedure.id
    assert abs(center.value - (47.5 - 4.6)) < 0.5
    assert record.list_runs().items == []  # frames passed through; no dataset of record
    steps = record.list_procedure_steps(procedure.id)
    assert [s["payload"]["target_value"] for s in steps] == [0.0, 180.0, 0.0]


def test_a_scan_pins_the_center_in_force_and_follows_a_steer(rig):
    RE, cora, record, ids, d, subject = rig
    RE(tomography.find_rotation_center(d.camera, d.rotation))
    exposures = []

    def steer_at_fifth_frame(name, doc):
        if name == "event" and doc["seq_num"] == 5:
            cora.adjust({"exposure_time_ms": 80}, "signal low")
        if name == "event":
            exposures.append(d.camera.exposure_time.get())

    RE.subscribe(steer_at_fifth_frame)
    RE(tomography.tomo_scan(d.camera, d.rotation, num_angles=8), subject_id=subject)
    assert cora.flush(10)
    (scan,) = record.list_runs().items
    (center,) = record.active_calibrations([ids["assets"]["rotation stage"]])
    assert scan.pinned_calibrations == (center.id,) and scan.subject_id == subject
    assert scan.effective_parameters == {"exposure_time_ms": 80, "num_angles": 8}
    assert exposures[:5] == [50.0] * 5 and exposures[-1] == 80.0


def test_a_scan_out_of_its_schema_is_refused_and_writes_nothing(rig):
    RE, cora, record, ids, d, subject = rig
    with pytest.raises(e.InvalidRunParametersError):
        RE(tomography.tomo_scan(d.camera, d.rotation, num_angles=1), subject_id=subject)
    assert record.list_runs().items == []


def test_an_unsecured_experiment_hutch_refuses_the_run_before_the_shutter_moves(rig, ioc):
    RE, cora, record, ids, d, subject = rig
    ioc.put("B:SECURED", 0)
    with pytest.raises(e.RunRequiresPermittedEnclosureError, match="2-BM-B"):
        RE(tomography.dark_field(d.camera, d.station_shutter))
    assert d.station_shutter.get() == OPEN
    assert record.list_runs().items == []
