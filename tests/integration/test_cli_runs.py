"""`cora runs stale` and `cora runs truncate`: a person closes what died, nothing closes itself."""

from __future__ import annotations

from datetime import timedelta

from support import Clock, build_beamline

import cora_bluesky
from cora_bluesky.cli import main


def test_stale_lists_idle_open_runs_and_truncate_closes_one(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'r.db'}"
    clock = Clock()
    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True}), clock=clock)
    ids = build_beamline(record)
    died = record.start_run(name="overnight tomography", plan_id=ids.plan, subject_id=ids.subject)
    record.append_run_reading(died.id, channel_name="I0", value=1.0, sampling_procedure="monitor",
                              sampled_at=clock.current)
    # the last activity the record saw: the reading, or the logbook opening it caused
    last_reading = max(record.list_run_readings(died.id)[-1]["sampled_at"], record.get_run(died.id).updated_at)
    clock.advance(hours=10)
    alive = record.start_run(name="fresh scan", plan_id=ids.plan, subject_id=ids.subject)
    stale = record.stale_runs(idle_for=timedelta(hours=2))
    assert [(run.id, seen) for run, seen in stale] == [(died.id, last_reading)]
    assert record.get_run(died.id).status == "Running"  # listing closes nothing
    record.close()

    # the command line reads the real clock, years after these runs: both are idle by then
    assert main(["runs", "stale", "--uri", uri, "--older-than", "1h"]) == 0
    out = capsys.readouterr().out
    assert died.id in out and alive.id in out and last_reading.isoformat() in out
    assert main(["runs", "truncate", died.id, "--uri", uri, "--reason", "workstation lost power",
                 "--interrupted-at", last_reading.isoformat()]) == 0
    reopened = cora_bluesky.connect(uri)
    run = reopened.get_run(died.id)
    assert run.status == "Truncated" and run.interrupted_at == last_reading
    assert main(["runs", "truncate", died.id, "--uri", uri, "--reason", "again"]) == 2
    assert "RunCannotTruncateError" in capsys.readouterr().err
