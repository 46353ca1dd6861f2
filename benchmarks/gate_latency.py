"""Start gate latency: how long ``start_run`` takes to decide (and record) at scale.

A large record: 50 hutches, 1,000 assets in a 5-level containment tree (each level declares
its hutch only at the top, so every start walks the chain), 1,000 Active clearances. Permits
are served from memory. The baseline is the same start on a record holding one of each.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from common import activate, percentile, row, run_alone, staffed


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

    record = staffed(cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({f"hutch-{n:02d}": True for n in range(50)})))
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


def epics_latencies(uri: str, *, starts: int, over_epics: bool) -> list[float]:
    """Starts in two hutches whose permits are read from the simulated PSS at each decision."""
    import cora_bluesky
    from cora_bluesky.gates.epics import EpicsPermits
    from cora_bluesky.sim.pss import SimulatedPSS

    pss = SimulatedPSS()
    permits = EpicsPermits() if over_epics else cora_bluesky.StaticPermits({"2-BM-A": True, "2-BM-B": True})
    record = staffed(cora_bluesky.connect(uri, permits=permits))
    assets = []
    for hutch in ("A", "B"):
        enclosure = record.register_enclosure(name=f"2-BM-{hutch}", secured_pv=pss.pv(f"{hutch}:SECURED"),
                                              shutter_pvs=[pss.pv(f"{hutch}:SHUTTER")])
        assets.append(record.register_asset(name=f"stage {hutch}", family="stage", enclosure_id=enclosure.id).id)
    plan = record.register_plan(name="scan", method_id=record.register_method(name="scan").id, asset_ids=assets)
    activate(record, asset_ids=assets)
    samples = []
    try:
        for _ in range(starts):
            started = time.perf_counter()
            record.start_run(name="gated", plan_id=plan.id)
            samples.append(time.perf_counter() - started)
    finally:
        record.close()
        if over_epics:
            permits.close()
        pss.stop()
    return samples


def rows(quick: bool) -> list[dict]:
    starts = 50 if quick else 1_000
    big = (10, 100, 100) if quick else (50, 1_000, 1_000)
    with tempfile.TemporaryDirectory() as folder:
        small = latencies(f"sqlite:///{Path(folder) / 'small.db'}", hutches=1, assets=5, clearances=1, starts=starts)
        large = latencies(f"sqlite:///{Path(folder) / 'large.db'}", hutches=big[0], assets=big[1],
                          clearances=big[2], starts=starts)
        fixed = epics_latencies(f"sqlite:///{Path(folder) / 'fixed.db'}", starts=starts, over_epics=False)
        epics = epics_latencies(f"sqlite:///{Path(folder) / 'epics.db'}", starts=starts, over_epics=True)
    ms = lambda samples, q: percentile(samples, q) * 1000  # noqa: E731
    label = f"{big[1]:,} assets in 5 levels, {big[0]} hutches, {big[2]:,} clearances"
    return [
        row("start gate p99: 2 hutches, 4 PSS PVs read over Channel Access at each decision vs fixed permits",
            f"{ms(fixed, 99):.2f} ms (fixed)", f"{ms(epics, 99):.2f} ms", ms(epics, 99) / ms(fixed, 99),
            "p99 <= 5 ms", p99_ms=round(ms(epics, 99), 3)),
        row(f"start gate p50: {label}", f"{ms(small, 50):.2f} ms (1 of each)", f"{ms(large, 50):.2f} ms",
            ms(large, 50) / ms(small, 50), "(context)"),
        row(f"start gate p99: {label}", f"{ms(small, 99):.2f} ms (1 of each)", f"{ms(large, 99):.2f} ms",
            ms(large, 99) / ms(small, 99), "p99 <= 5 ms", p99_ms=round(ms(large, 99), 3)),
    ]


if __name__ == "__main__":
    run_alone(rows, __doc__)
