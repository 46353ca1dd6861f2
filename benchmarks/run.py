"""``make bench``: every benchmark, one table, also written to ``benchmarks/results/``.

Each row compares cora-bluesky with a baseline measured in the same run (these machines are
noisy: read the ratios). ``--quick`` runs small sizes, for the CI smoke test.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["runengine_overhead", "readings_ingest", "gate_latency", "listing_scale", "recorder_alone",
              "mongodb_server", "crash_trials", "history_import"]
COLUMNS = ["what", "baseline", "cora", "ratio", "target"]


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for found in rows:
        lines.append("| " + " | ".join("" if found.get(c) is None else str(found[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only these")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for bench.json and bench.md")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    from cora_bluesky.sim.loopback import pin_epics_to_loopback

    pin_epics_to_loopback()  # a port of its own, before ophyd is imported: the simulated PSS stays on 127.0.0.1
    sys.path.insert(0, str(HERE))
    rows: list[dict] = []
    for name in args.only or BENCHMARKS:
        started = time.perf_counter()
        found = importlib.import_module(name).rows(args.quick)
        for item in found:
            item["benchmark"], item["seconds"] = name, round(time.perf_counter() - started, 1)
        rows += found
        print(f"{name}: done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    context = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": args.quick,
               "python": platform.python_version(), "machine": platform.machine()}
    (args.out / "bench.json").write_text(json.dumps({**context, "rows": rows}, indent=2))
    markdown = table(rows)
    size = "quick" if args.quick else "full"
    (args.out / "bench.md").write_text(f"Measured {context['when']} ({size})\n\n{markdown}\n")
    print(markdown)


if __name__ == "__main__":
    main()
