"""`cora copy` moves a whole record between stores without losing or changing anything."""

from __future__ import annotations

import pytest
from support import build_beamline, drop_store, fresh_mongodb_uri

import cora_bluesky
from cora_bluesky.application.copying import copy_record, inventory
from cora_bluesky.cli import main
from cora_bluesky.domain import errors as e
from cora_bluesky.storage import open_store


@pytest.fixture
def source_uri(tmp_path):
    uri = f"sqlite:///{tmp_path / 'source.db'}"
    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    run = record.start_run(name="tomo", plan_id=ids.plan, subject_id=ids.subject)
    record.append_run_readings(run.id, [{"channel_name": "I0", "value": i * 0.1, "sampling_procedure": "monitor",
                                         "sampled_at": record.now()} for i in range(300)])
    record.adjust_run(run.id, parameter_patch={"exposure": 0.2}, reason="drift")
    proc = record.start_new_procedure(name="align", kind="alignment", target_asset_ids=[ids.stage])
    record.append_procedure_step(proc.id, [{"event_id": "s1", "step_kind": "check", "payload": {"passed": True},
                                            "sampled_at": record.now()}])
    record.complete_run(run.id)
    record.close()
    return uri


def test_round_trip_sqlite_mongo_sqlite_keeps_identical_digests(source_uri, tmp_path, capsys):
    mongo_uri, back_uri = fresh_mongodb_uri(), f"sqlite:///{tmp_path / 'back.db'}"
    assert main(["copy", source_uri, mongo_uri]) == 0
    assert main(["copy", mongo_uri, back_uri]) == 0
    assert "verified" in capsys.readouterr().out
    digests = []
    for uri in (source_uri, mongo_uri, back_uri):
        store = open_store(uri)
        digests.append(inventory(store))
        store.close()
    assert digests[0] == digests[1] == digests[2]
    assert digests[0].logbooks["entries_run_readings"][0] == 300
    back = cora_bluesky.connect(back_uri)
    (run,) = back.list_runs().items
    assert run.status == "Completed" and run.adjustment_count == 1
    assert len(back.list_run_readings(run.id)) == 300
    back.close()
    drop_store(mongo_uri)


def test_non_empty_target_needs_merge_and_rerun_is_idempotent(source_uri, tmp_path):
    target_uri = f"sqlite:///{tmp_path / 'target.db'}"
    source, target = open_store(source_uri), open_store(target_uri)
    events = list(source.dump_events())
    target.import_batch(events=events[:5])  # an interrupted copy
    with pytest.raises(e.StoreError, match="--merge"):
        copy_record(source, target)
    expected = copy_record(source, target, merge=True)
    assert copy_record(source, target, merge=True) == expected == inventory(target)


def test_cli_refuses_a_non_empty_target(source_uri, tmp_path, capsys):
    assert main(["copy", source_uri, source_uri]) == 2
    assert "StoreError" in capsys.readouterr().err
