"""SIGKILL trials: sessions killed at random moments, then replayed; readings lost and duplicated.

Each trial is a RunEngine session (cora, a baseline, a monitor, a ground-truth subscriber that
fsyncs every document it sees) killed at a random document count, or while it still replays the
sessions before it. A last session replays what is left; the record is then compared with the
ground truth (see ``tests/integration/crash_harness.py``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from common import row, run_alone, staffed

TESTS = Path(__file__).resolve().parents[1] / "tests"


def rows(quick: bool) -> list[dict]:
    sys.path[:0] = [str(TESTS / "integration"), str(TESTS)]
    import cora_bluesky
    from crash_harness import trials, verdict
    from support import build_beamline

    count = 3 if quick else 30
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        db = folder / "r.db"
        record = staffed(cora_bluesky.connect(f"sqlite:///{db}", permits=cora_bluesky.StaticPermits({"2-BM-B": True})))
        ids = build_beamline(record)
        record.register_plan(name="count", method_id=record.register_method(name="counting").id,
                             asset_ids=[ids.camera])
        record.close()
        truths = trials(f"sqlite:///{db}", folder, count, seed=30)
        found = verdict(f"sqlite:///{db}", db, truths)
    return [
        row(f"SIGKILL trials: {count} sessions killed at random moments, then replayed",
            f"{found['expected']} readings emitted", f"lost {len(found['lost'])}, duplicated {len(found['duplicated'])}",
            None, "0 and 0"),
        row(f"SIGKILL trials: runs whose stop was emitted, ended as the stop says ({found['runs_ended']})",
            f"{found['runs_ended']} runs", f"{len(found['wrong_status'])} wrong; integrity_check {found['integrity']}",
            None, "0 wrong, ok"),
    ]


if __name__ == "__main__":
    run_alone(rows, __doc__)
