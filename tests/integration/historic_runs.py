"""Generated history: Bluesky runs as a beamline's catalog holds them from years of use.

Run ``i`` is the same on every call. Its ending cycles through success, abort (with and without
a reason), fail and none (no stop document: the session died); its plan through names the
2-BM model answers to and names it does not; some carry a baseline or a monitor stream, with
values that are not readings (an array, text) among the numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from event_model import compose_run

#: Epoch seconds of the first generated run (2021-06-01T00:00Z); each starts an hour later.
FIRST = 1622505600.0
ENDINGS = ("success", "abort", "fail", "none", "abort-silent")
PLANS = ("scan", "count", "tomo_scan", "rel_scan", "mystery_plan")


@dataclass(frozen=True)
class Historic:
    uid: str
    documents: list[tuple[str, dict]]
    ending: str
    plan: str
    started: float
    last: float
    #: finite numeric values of its baseline and monitor streams
    readings: int


def historic(i: int) -> Historic:
    rng = random.Random(i)
    started = FIRST + 3600.0 * i
    plan = PLANS[i % len(PLANS)]
    ending = ENDINGS[i % len(ENDINGS)]
    metadata = {"plan_name": plan, "scan_id": 1000 + i, "detectors": ["cam"], "motors": ["rot", "ghost_motor"],
                "sample": "sn-2024-038" if i % 3 == 0 else f"unknown sample {i}"}
    bundle = compose_run(uid=f"historic-{i:05d}-{rng.getrandbits(32):08x}", time=started, metadata=metadata)
    documents: list[tuple[str, dict]] = [("start", bundle.start_doc)]
    t, readings = started, 0
    primary = bundle.compose_descriptor(
        name="primary", data_keys={"cam": {"dtype": "number", "source": "sim", "shape": [], "units": "counts"},
                                   "rot": {"dtype": "number", "source": "sim", "shape": [], "units": "deg"}}, time=started)
    documents.append(("descriptor", primary.descriptor_doc))
    if i % 2 == 0:
        baseline = bundle.compose_descriptor(
            name="baseline", data_keys={"ring_current": {"dtype": "number", "source": "sim", "shape": [], "units": "mA"},
                                        "mode": {"dtype": "string", "source": "sim", "shape": []}}, time=t)
        documents.append(("descriptor", baseline.descriptor_doc))
        t += 0.5
        documents.append(("event", baseline.compose_event(
            data={"ring_current": 100.0 + rng.random(), "mode": "top-up"},
            timestamps={"ring_current": t, "mode": t}, seq_num=1, time=t)))
        readings += 1
    for seq in range(1, rng.randint(2, 5)):
        t += 1.0
        documents.append(("event", primary.compose_event(
            data={"cam": rng.random(), "rot": float(seq)}, timestamps={"cam": t, "rot": t}, seq_num=seq, time=t)))
    if i % 3 == 1:
        monitor = bundle.compose_descriptor(
            name="temperature_monitor", data_keys={"temperature": {"dtype": "number", "source": "sim", "shape": []}}, time=t)
        documents.append(("descriptor", monitor.descriptor_doc))
        for seq in range(1, 4):
            t += 0.25
            documents.append(("event", monitor.compose_event(
                data={"temperature": 290.0 + seq}, timestamps={"temperature": t}, seq_num=seq, time=t)))
            readings += 1
    if ending != "none":
        t += 1.0
        status = "abort" if ending.startswith("abort") else ending
        reason = {"abort": f"beam dump {i}", "fail": ""}.get(ending, "")
        documents.append(("stop", bundle.compose_stop(exit_status=status, reason=reason, time=t)))
    return Historic(bundle.start_doc["uid"], documents, ending, plan, started, t, readings)
