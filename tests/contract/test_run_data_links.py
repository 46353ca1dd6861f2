"""A Run's links to its Bluesky runs on every store: found by start uid, scan id, external ref."""

from __future__ import annotations

import pytest
from support import activate_clearance, build_beamline

from cora_bluesky.domain import errors as e

DIGEST = "ab" * 32


@pytest.fixture
def ids(record):
    ids = build_beamline(record)
    activate_clearance(record, subject_ids=[ids.subject])
    return ids


def _run(record, ids, name, *links, refs=()):
    run = record.start_run(name=name, plan_id=ids.plan, subject_id=ids.subject, external_refs=list(refs))
    for uid, scan_id in links:
        record.link_run_dataset(run.id, start_uid=uid, uri=f"http://tiled/raw/{uid}", scan_id=scan_id)
    return run


def test_runs_are_found_by_start_uid_scan_id_and_external_ref(record, ids):
    first = _run(record, ids, "first", ("uid-a", 7), refs=[("proposal", "2024-1")])
    second = _run(record, ids, "second", ("uid-b", 7), ("uid-c", 8), refs=[("proposal", "2024-1")])
    _run(record, ids, "unlinked")
    assert [r.id for r in record.find_runs(start_uid="uid-c")] == [second.id]
    assert [r.id for r in record.find_runs(scan_id=7)] == [first.id, second.id]
    assert [r.id for r in record.find_runs(scan_id=7, start_uid="uid-b")] == [second.id]
    assert [r.id for r in record.find_runs(external_ref="proposal:2024-1", scan_id=8)] == [second.id]
    assert record.find_runs(start_uid="uid-z") == [] and record.find_runs(scan_id=9) == []
    page = record.list_runs(scan_id=7, limit=1)
    assert [r.id for r in page.items] == [second.id]
    assert [r.id for r in record.list_runs(scan_id=7, cursor=page.next).items] == [first.id]
    assert record.get_run(second.id).datasets[1].scan_id == 8


def test_a_find_needs_a_well_formed_criterion(record, ids):
    with pytest.raises(e.InvalidListQueryError):
        record.find_runs()
    for bad in ({"scan_id": -1}, {"scan_id": True}, {"external_ref": "no-colon"}, {"start_uid": ""}):
        with pytest.raises(e.InvalidListQueryError):
            record.find_runs(**bad)


def test_a_link_is_sealed_once_with_a_sha256(record, ids):
    run = _run(record, ids, "sealed", ("uid-a", 1))
    with pytest.raises(e.RunCannotLinkDatasetError):  # not linked
        record.seal_run_dataset(run.id, start_uid="uid-x", digest=DIGEST, canonical_form="f/1", documents=3)
    for bad in ({"digest": "AB" * 32}, {"digest": "ab"}, {"documents": 0}, {"canonical_form": " "}):
        fields = {"start_uid": "uid-a", "digest": DIGEST, "canonical_form": "f/1", "documents": 3, **bad}
        with pytest.raises(e.InvalidRunDatasetError):
            record.seal_run_dataset(run.id, **fields)
    sealed = record.seal_run_dataset(run.id, start_uid="uid-a", digest=DIGEST, canonical_form="f/1", documents=3)
    assert (sealed.datasets[0].digest, sealed.datasets[0].documents) == (DIGEST, 3)
    with pytest.raises(e.RunCannotLinkDatasetError):  # sealed already
        record.seal_run_dataset(run.id, start_uid="uid-a", digest=DIGEST, canonical_form="f/1", documents=3)
    with pytest.raises(e.InvalidRunDatasetError):
        record.link_run_dataset(run.id, start_uid="uid-b", uri="http://tiled/raw/uid-b", scan_id=-3)
    record.complete_run(run.id)
    with pytest.raises(e.RunCannotLinkDatasetError):  # a terminal run takes nothing more
        record.link_run_dataset(run.id, start_uid="uid-b", uri="http://tiled/raw/uid-b")
