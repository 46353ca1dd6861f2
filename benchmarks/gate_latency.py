"""Start gate latency: how long ``start_run`` takes to decide (and record) at scale.

A large record: 50 hutches, 1,000 assets in a 5-level containment tree (each level declares
its hutch only at the top, so every start walks the chain), 1,000 Active clearances. Permits
are served from memory. The baseline is the same start on a record holding one of each.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from common import activate, percentile, row


def build(record, *, hutches: int, assets: int, clearances: int) -> tuple[str, list[str]]:
    """Register the beamline; returns a plan id and the leaf assets runs bind."""
    enclosures = [record.register_enclosure(name=f"hutch-{n:02d}", secured_pv=f"PSS:{n}:SECURED").id
                  for n in range(hutches)]
    per_level = max(assets // 5, 1)
    levels: list[list[str]] = []
    for level in range(5):
        made = []
        for n in range(per_level if level < 4 else assets - 4 * per_level):
            if level == 0:
                made.append(record.register_asset(name=f"unit-{n}", family="unit",
                                                  enclosure_id=enclosures[n % hutches]).id)
            else:
                made.append(record.register_asset(name=f"l{level}-{n}", family=f"level{level}",
                                                  parent_id=levels[-1][n % len(levels[-1])]).id)
        levels.append(made)
    method = record.register_method(name="scan")
    plan = record.register_plan(name="scan", method_id=method.id)
    leaves = levels[-1]
    for n in range(clearances):
        activate(record, asset_ids=[leaves[n % len(leaves)]])
    return plan.id, leaves


def latencies(uri: str, *, hutches: int, assets: int, clearances: int, starts: int) -> list[float]:
    import cora_bluesky

    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({f"hutch-{n:02d}": True for n in range(50)}))
    plan, leaves = build(record, hutches=hutches, assets=assets, clearances=clearances)
    chooser = random.Random(7)
    samples = []
    for _ in range(starts):
        bound = chooser.sample(leaves, k=min(3, len(leaves)))
        started = time.perf_counter()
        record.start_run(name="gated", plan_id=plan, asset_ids=bound)
        samples.append(time.perf_counter() - started)
    record.close()
    return samples


def rows(quick: bool) -> list[dict]:
    starts = 50 if quick else 1_000
    big = (10, 100, 100) if quick else (50, 1_000, 1_000)
    with tempfile.TemporaryDirectory() as folder:
        small = latencies(f"sqlite:///{Path(folder) / 'small.db'}", hutches=1, assets=5, clearances=1, starts=starts)
        large = latencies(f"sqlite:///{Path(folder) / 'large.db'}", hutches=big[0], assets=big[1],
                          clearances=big[2], starts=starts)
    ms = lambda samples, q: percentile(samples, q) * 1000  # noqa: E731
    label = f"{big[1]:,} assets in 5 levels, {big[0]} hutches, {big[2]:,} clearances"
    return [
        row(f"start gate p50: {label}", f"{ms(small, 50):.2f} ms (1 of each)", f"{ms(large, 50):.2f} ms",
            ms(large, 50) / ms(small, 50), "(context)"),
        row(f"start gate p99: {label}", f"{ms(small, 99):.2f} ms (1 of each)", f"{ms(large, 99):.2f} ms",
            ms(large, 99) / ms(small, 99), "p99 <= 5 ms", p99_ms=round(ms(large, 99), 3)),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    for found in rows(parser.parse_args().quick):
        print(json.dumps(found))
