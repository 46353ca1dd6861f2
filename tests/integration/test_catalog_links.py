"""A Run and its data in the beamline's catalog: a real Tiled server written by ``TiledWriter``
on the same RunEngine as cora, and a databroker v2 catalog.

Started by the integration conftest: two Tiled servers on 127.0.0.1, each a subprocess ended by PID: one with a
temporary SQL catalog, one serving databroker v2's MongoDB-normalized catalog over mongomock.
"""

from __future__ import annotations

import bluesky.plans as bp
import pytest
from bluesky import RunEngine
from ophyd.sim import SynAxis, SynGauss
from support import SOFT_SIGNALS, build_beamline

import cora_bluesky
from cora_bluesky.application.run_data import Verdict
from cora_bluesky.cli import main as cora_main
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.digest import CANONICAL_FORM
from cora_bluesky.sim.catalog_server import API_KEY

tiled_client = pytest.importorskip("tiled.client", reason="needs the data extra: pip install -e '.[data]'")
tiled_writing = pytest.importorskip(
    "bluesky_tiled_plugins.writing.tiled_writer", reason="needs the data extra: pip install -e '.[data]'"
)

def _rig(tmp_path, catalog):
    record = cora_bluesky.connect(f"sqlite:///{tmp_path / 'r.db'}", permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    counting = record.register_method(name="counting", needed_families=["camera"])
    record.register_plan(name="scan", method_id=counting.id)
    rot = SynAxis(name="rot")
    cam = SynGauss("cam", rot, "rot", center=0, Imax=1)
    RE = RunEngine({}, call_returns_result=False)
    cora = cora_bluesky.install(RE, record, catalog=catalog, outside_hutches=SOFT_SIGNALS, spool=tmp_path / "spool")
    return RE, cora, ids, rot, cam


@pytest.fixture
def tiled_rig(tmp_path, tiled_server):
    client = tiled_client.from_uri(tiled_server, api_key=API_KEY)
    RE, cora, ids, rot, cam = _rig(tmp_path, client)
    RE.subscribe(tiled_writing.TiledWriter(client))
    yield RE, cora, ids, rot, cam, client
    cora.close(10)
    cora.record.close()


def _scan(RE, cora, ids, rot, cam, num=5):
    (uid,) = RE(bp.scan([cam], rot, -1, 1, num), subject_id=ids.subject)
    assert cora.flush(10)
    return uid


def test_a_scan_written_by_tiledwriter_is_found_from_its_run_and_back(tiled_rig, tiled_server):
    RE, cora, ids, rot, cam, client = tiled_rig
    uid = _scan(RE, cora, ids, rot, cam)
    scan_id = client[uid].start["scan_id"]
    (run,) = cora.record.find_runs(start_uid=uid)
    (dataset,) = run.datasets
    assert (dataset.start_uid, dataset.scan_id) == (uid, scan_id)
    assert dataset.uri == f"{tiled_server}/api/v1/metadata/{uid}"
    assert [r.id for r in cora.record.find_runs(scan_id=scan_id)] == [run.id]
    assert cora.record.find_runs(scan_id=scan_id + 1000) == []
    # from the Run to its data, through the catalog it was installed with and through the link alone
    entry = cora.record.open_data(run.id)
    assert entry.start["uid"] == uid and entry.metadata["start"]["cora_run_id"] == run.id
    assert [float(x) for x in entry["primary"].read()["rot"]] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    by_link = tiled_client.from_uri(dataset.uri, api_key=API_KEY)
    assert by_link.start["uid"] == uid
    # and back, from the catalog's scan to its Run
    assert cora.record.find_runs(start_uid=client[scan_id].start["uid"])[0].id == run.id


def test_the_digest_verifies_and_an_altered_document_fails(tiled_rig, tiled_server, capsys):
    RE, cora, ids, rot, cam, client = tiled_rig
    uid = _scan(RE, cora, ids, rot, cam, num=4)
    (run,) = cora.record.find_runs(start_uid=uid)
    (dataset,) = run.datasets
    assert dataset.canonical_form == CANONICAL_FORM and len(dataset.digest) == 64
    assert dataset.documents == 1 + 1 + 4 + 1  # start, descriptor, four events, stop
    (found,) = cora.record.verify_run_data(run.id)
    assert found.verdict is Verdict.VERIFIED and found.found == dataset.digest

    # the console reads the catalog through each link's own address
    uri = cora.record.location
    assert cora_main(["runs", "verify", run.id, "--uri", f"sqlite:///{uri}", "--api-key", API_KEY]) == 0
    assert "verified" in capsys.readouterr().out

    # someone edits the start document in the catalog afterwards
    entry = client[uid]
    start = dict(entry.metadata["start"])
    start["sample"] = "not what was measured"
    entry.update_metadata({"start": start})
    (found,) = cora.record.verify_run_data(run.id)
    assert found.verdict is Verdict.ALTERED and found.found != dataset.digest
    assert cora_main(["runs", "verify", run.id, "--uri", f"sqlite:///{uri}", "--api-key", API_KEY]) == 1
    assert "altered" in capsys.readouterr().out


def test_a_run_shows_its_link_and_digest(tiled_rig):
    RE, cora, ids, rot, cam, client = tiled_rig
    uid = _scan(RE, cora, ids, rot, cam, num=2)
    (run,) = cora.record.find_runs(start_uid=uid)
    from cora_bluesky import console

    shown = "\n".join(console.show_run(cora.record, run.id))
    assert f"/api/v1/metadata/{uid}" in shown and f"scan {run.datasets[0].scan_id}" in shown
    assert run.datasets[0].digest in shown


def test_a_databroker_catalog_links_and_verifies(tmp_path, databroker_server):
    catalog = tiled_client.from_uri(databroker_server, api_key=API_KEY)
    RE, cora, ids, rot, cam = _rig(tmp_path, catalog)
    RE.subscribe(catalog.post_document)
    try:
        uid = _scan(RE, cora, ids, rot, cam, num=3)
        (run,) = cora.record.find_runs(start_uid=uid)
        assert cora.record.find_runs(scan_id=run.datasets[0].scan_id)[0].id == run.id
        assert cora.record.open_data(run.id).start["uid"] == uid
        (found,) = cora.record.verify_run_data(run.id)
        assert found.verdict is Verdict.VERIFIED, found
    finally:
        cora.close(10)
        cora.record.close()


def test_a_run_without_data_names_the_refusal(tmp_path):
    record = cora_bluesky.connect(f"sqlite:///{tmp_path / 'r.db'}", permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    from support import activate_clearance

    activate_clearance(record, subject_ids=[ids.subject])
    run = record.start_run(name="tomography", plan_id=ids.plan, subject_id=ids.subject)
    with pytest.raises(e.RunDataNotLinkedError):
        record.open_data(run.id)
    record.link_run_dataset(run.id, start_uid="uid-1", uri="bluesky://run/uid-1")
    with pytest.raises(e.RunDataUnreachableError):
        record.open_data(run.id)  # a link no catalog resolves
    (found,) = record.verify_run_data(run.id)
    assert found.verdict is Verdict.UNSEALED
    record.close()
