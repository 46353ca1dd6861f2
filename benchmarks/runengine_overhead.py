"""RunEngine overhead: ``count([det], num=N)`` bare, with cora-bluesky, and with other recorders.

With cora, every message that reaches a device passes the gate's scope check.

Each RunEngine carries a SupplementalData baseline of 10 signals, except the "bare" one. Only
the time the RunEngine takes is measured: cora's recorder catches up afterwards on its own
threads (that it does, and completes the run, is checked). Every document is durable at emit:
written to the spool before the RunEngine's callback returns. Bare and cora runs alternate, and
the median of the pairs' ratios is reported (a shared machine's load drifts during a run).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from common import counting_record, row, run_alone, stopwatch


def _engine(baseline: bool):
    from bluesky import RunEngine
    from bluesky.preprocessors import SupplementalData
    from ophyd import Signal

    RE = RunEngine({})
    if baseline:
        signals = [Signal(name=f"baseline_{n}", value=float(n)) for n in range(10)]
        RE.preprocessors.append(SupplementalData(baseline=signals))
    return RE


def _count(RE, num: int) -> float:
    import bluesky.plans as bp
    from ophyd.sim import det

    with stopwatch() as elapsed:
        RE(bp.count([det], num=num))
    return elapsed[0]


def bare(num: int, *, baseline: bool) -> float:
    return _count(_engine(baseline), num)


def with_cora(num: int, folder: Path, *, record_documents: bool = True) -> float:
    """With the gate and (unless ``record_documents`` is false) the recorder."""
    import cora_bluesky

    RE = _engine(True)
    folder.mkdir(parents=True, exist_ok=True)
    record = counting_record(f"sqlite:///{folder / 'bench.db'}")
    cora = cora_bluesky.install(RE, record, spool=folder / "spool", record_documents=record_documents,
                                outside_hutches=["baseline_*"])
    seconds = _count(RE, num)
    assert cora.close(900), "the recorder did not catch up"
    if record_documents:
        assert record.list_runs().items[0].status == "Completed"
    record.close()
    return seconds


def with_suitcase_mongo(num: int) -> float | None:
    try:
        import mongomock
        from suitcase.mongo_normalized import Serializer
    except ImportError:
        return None
    client = mongomock.MongoClient()
    RE = _engine(True)
    RE.subscribe(Serializer(client["metadatastore"], client["assets"]))
    return _count(RE, num)


def with_databroker(num: int) -> float | None:
    try:
        from databroker import temp
    except ImportError:
        return None
    catalog = temp()
    RE = _engine(True)
    RE.subscribe(catalog.v1.insert)
    return _count(RE, num)


def emit_cost(num: int, folder: Path) -> tuple[float, float]:
    """Microseconds the calling thread spends per event document: handing it to a recorder
    without a spool, and with the spool (framed, checksummed, ``write()``-n)."""
    from cora_bluesky.callbacks.recorder import CoraRecorder
    from cora_bluesky.callbacks.spool import Spool

    record = counting_record(f"sqlite:///{folder / 'emit.db'}")
    costs = []
    for spool in (None, Spool(folder / "emit-spool")):
        recorder = CoraRecorder(record, spool=spool)
        recorder("descriptor", {"uid": "d", "run_start": "s", "name": "primary", "data_keys": {}})
        event = {"uid": "e" * 36, "descriptor": "d", "seq_num": 1, "time": time.time(),
                 "data": {"det": 1.0}, "timestamps": {"det": time.time()}, "filled": {}}
        started = time.perf_counter()
        for _ in range(num):
            recorder("event", event)
        costs.append((time.perf_counter() - started) / num * 1e6)
        assert recorder.close(300)
    record.close()
    return costs[0], costs[1]


def rows(quick: bool) -> list[dict]:
    num = 300 if quick else 10_000
    pairs = 1 if quick else 5
    small = max(num // 20, 50)
    found = []
    with tempfile.TemporaryDirectory() as folder:
        base = bare(num, baseline=False)
        measured = []
        for pair in range(pairs):
            measured.append((bare(num, baseline=True), with_cora(num, Path(folder) / f"cora{pair}"),
                             with_cora(num, Path(folder) / f"gate{pair}", record_documents=False)))
        memory, spooled = emit_cost(num * 2, Path(folder))
    ratio = statistics.median(cora / base_sd for base_sd, cora, _ in measured)
    gate_ratio = statistics.median(gate / base_sd for base_sd, _, gate in measured)
    base_sd, cora, gate = (statistics.median(times) for times in zip(*measured))
    found.append(row(f"RE overhead, durable at emit: count N={num}, cora vs bare (both with 10-signal"
                     f" baseline; median of {pairs} alternating pair(s))",
                     f"{base_sd:.2f} s", f"{cora:.2f} s", ratio, "<= 1.05"))
    found.append(row(f"RE overhead: count N={num}, the gate alone (no recorder) vs bare, same pairs",
                     f"{base_sd:.2f} s", f"{gate:.2f} s", gate_ratio, "(context)"))
    found.append(row("durable at emit: RunEngine-thread cost per event document, spooled vs in memory only",
                     f"{memory:.1f} us", f"{spooled:.1f} us", spooled / memory, "(context)"))
    found.append(row(f"RE overhead: count N={num}, cora + baseline vs no baseline, no cora",
                     f"{base:.2f} s", f"{cora:.2f} s", cora / base, "(context)"))
    suitcase = with_suitcase_mongo(num)
    if suitcase is not None:
        found.append(row(f"RE overhead: count N={num}, suitcase-mongo on mongomock vs bare",
                         f"{base_sd:.2f} s", f"{suitcase:.2f} s (suitcase)", suitcase / base_sd, "(context)"))
    small_base = bare(small, baseline=True)
    databroker = with_databroker(small)
    if databroker is not None:
        found.append(row(f"RE overhead: count N={small}, databroker temp() catalog vs bare",
                         f"{small_base:.2f} s", f"{databroker:.2f} s (databroker)", databroker / small_base,
                         "(context)"))
    return found


if __name__ == "__main__":
    run_alone(rows, __doc__)
