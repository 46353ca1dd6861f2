"""`cora demo` tells the whole story on a fresh SQLite record."""

from __future__ import annotations

import subprocess
import sys

import cora_bluesky


def test_demo_runs_end_to_end(tmp_path):
    uri = f"sqlite:///{tmp_path / 'demo.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "cora_bluesky.cli", "demo", "--uri", uri],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for refusal in ("RunRequiresActiveClearance", "RunClearanceCoverageMismatch",
                    "RunRequiresPermittedEnclosure", "InvalidRunAdjustSchema"):
        assert f"refused: {refusal}" in out
    record = cora_bluesky.connect(uri)
    statuses = sorted((run.name, str(run.status)) for run in record.list_runs().items)
    assert statuses == [
        ("flat field before tomography", "Completed"),
        ("overnight tomography", "Truncated"),
        ("tomography of sn-2024-038", "Completed"),
    ]
    scan = next(run for run in record.list_runs().items if run.name.startswith("tomography"))
    assert scan.adjustment_count == 1 and len(scan.pinned_calibrations) == 1
    assert record.get_calibration(scan.pinned_calibrations[0]).source.kind == "procedure"


def test_cli_reports_refusals_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cora_bluesky.cli", "demo", "--uri", "postgres://nowhere/x"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("StoreError:") and "Traceback" not in result.stderr
