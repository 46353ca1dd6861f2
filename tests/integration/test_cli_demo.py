"""`cora demo` tells the whole 2-BM story through the profile, on a fresh SQLite record."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cora_bluesky

REPO = Path(__file__).resolve().parents[2]


def own_epics() -> dict[str, str]:
    """The demo pins Channel Access to loopback itself, on ports the tests' IOC is not using."""
    return {key: value for key, value in os.environ.items() if not key.startswith("EPICS_")}


def demo(uri: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cora_bluesky.cli", "demo", "--uri", uri, "--profile", str(REPO / "profile_collection")],
        capture_output=True, text=True, timeout=180, cwd=cwd, env=own_epics(),
    )


def test_demo_runs_end_to_end(tmp_path):
    uri = f"sqlite:///{tmp_path / 'demo.db'}"
    result = demo(uri, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "refused: RunClearanceCoverageMismatch" in out
    assert "== The record" in out and "cora serve --uri" in out
    record = cora_bluesky.connect(uri)
    runs = {(run.name, str(run.status)): run for run in record.list_runs().items}
    assert sorted(runs) == [
        ("dark_field", "Completed"), ("flat_field", "Completed"),
        ("tomo_scan", "Completed"), ("tomo_scan", "Truncated"),
    ]
    assert runs[("dark_field", "Completed")].subject_id is None and runs[("flat_field", "Completed")].subject_id is None
    scan = runs[("tomo_scan", "Completed")]
    events = [event.event_type for event in record.history("run", scan.id)]
    assert events.count("RunHeld") == 1 and events.count("RunResumed") == 1
    assert scan.adjustment_count == 1 and scan.effective_parameters["exposure_time_ms"] == 75
    (pinned,) = scan.pinned_calibrations
    center = record.get_calibration(pinned)
    assert center.quantity == "rotation_center" and center.source.kind == "procedure"
    assert abs(center.value - (47.5 + 3.3)) < 0.5  # the simulator's axis: 96 px wide, offset 3.3 px
    (procedure,) = record.list_procedures().items
    assert procedure.status == "Completed" and procedure.id == center.source.ref
    lost = runs[("tomo_scan", "Truncated")]
    assert lost.interrupted_at < lost.updated_at and "killed" in lost.last_reason
    assert record.list_run_readings(scan.id) and record.list_run_readings(lost.id)
    record.close()

    again = demo(uri, tmp_path)  # the same record: the story is told again beside the first
    assert again.returncode == 0, again.stderr[-3000:]
    assert "refused: RunClearanceCoverageMismatch" in again.stdout
    assert "beamline model: ~ enclosure '2-BM-A'" in again.stdout  # a new simulated PSS prefix, recorded
    record = cora_bluesky.connect(uri)
    assert len(record.list_runs().items) == 2 * len(runs) and len(record.list_procedures().items) == 2
    record.close()


def test_cli_reports_refusals_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cora_bluesky.cli", "demo", "--uri", "postgres://nowhere/x",
         "--profile", str(REPO / "profile_collection")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=own_epics(),
    )
    assert result.returncode == 2
    assert result.stderr.startswith("UnknownStoreSchemeError:") and "Traceback" not in result.stderr


def test_demo_needs_its_profile(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cora_bluesky.cli", "demo", "--uri", f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 2 and "no profile" in result.stderr
