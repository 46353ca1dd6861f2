"""Benchmarks run in --quick mode so they cannot rot; their figures are never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_every_benchmark_runs_and_writes_its_table(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written = json.loads((tmp_path / "bench.json").read_text())
    assert {row["benchmark"] for row in written["rows"]} == {
        "runengine_overhead", "readings_ingest", "gate_latency", "listing_scale", "recorder_alone", "mongodb_server",
        "crash_trials", "history_import",
    }
    for row in written["rows"]:
        assert {"what", "baseline", "cora", "ratio", "target"} <= set(row)
    assert result.stdout.startswith("| what | baseline | cora | ratio | target |")
    assert (tmp_path / "bench.md").read_text().count("\n|") == len(written["rows"]) + 2  # header, rule, rows
