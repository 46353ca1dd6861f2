"""Benchmarks run in --quick mode so they cannot rot; their figures are never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_recorder_overhead_benchmark_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "recorder_overhead.py"), "--quick"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"what", "baseline_s", "cora_s", "ratio", "target"} <= set(row)
