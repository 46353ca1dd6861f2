"""RunEngine overhead of cora-bluesky: a sim-detector ``count`` bare and with cora installed.

Prints seconds for each and the ratio cora / bare, measured in the same process (these machines
are noisy: compare ratios, not seconds). ``--quick`` runs a small N so the script cannot rot.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def _session(with_cora: bool, folder: Path):
    from bluesky import RunEngine
    from ophyd.sim import det

    import cora_bluesky

    RE = RunEngine({})
    if with_cora:
        record = cora_bluesky.connect(f"sqlite:///{folder / 'bench.db'}")
        method = record.register_method(name="counting")
        record.register_plan(name="count", method_id=method.id)
        bench = record.register_asset(name="sim detector", family="detector", device_names=["det"])
        form = record.register_clearance(form_type="aps-esaf", title="bench", asset_ids=[bench.id])
        for step in (record.submit_clearance, record.start_clearance_review, record.approve_clearance,
                     record.activate_clearance):
            step(form.id)
        cora = cora_bluesky.install(RE, record, spool=folder / "spool")
        return RE, det, cora
    return RE, det, None


def measure(num: int, with_cora: bool) -> float:
    import bluesky.plans as bp

    with tempfile.TemporaryDirectory() as folder:
        RE, det, cora = _session(with_cora, Path(folder))
        started = time.perf_counter()
        RE(bp.count([det], num=num))
        elapsed = time.perf_counter() - started
        if cora is not None:
            assert cora.close(600), "the recorder did not catch up"
            assert cora.record.list_runs().items[0].status == "Completed"
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="a small N, for the CI smoke test")
    args = parser.parse_args()
    num = 200 if args.quick else args.num
    bare = measure(num, with_cora=False)
    cora = measure(num, with_cora=True)
    row = {"what": f"count([det], num={num})", "baseline_s": round(bare, 3), "cora_s": round(cora, 3),
           "ratio": round(cora / bare, 3), "target": "<= 1.05"}
    print(json.dumps(row))


if __name__ == "__main__":
    main()
