"""The recorder alone: documents per second through cora's recorder vs a no-op DocumentRouter.

The documents are those of a ``count`` with a baseline and a monitor, captured once from a
RunEngine that only gates (so the start document names its CORA run), then replayed into each
consumer. Two figures for the recorder: the hand-off the RunEngine thread pays per document,
and the end-to-end rate until everything is in the record.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import counting_record, row, run_alone, stopwatch


def capture(num: int, folder: Path):
    import bluesky.plans as bp
    from bluesky import RunEngine
    from bluesky.preprocessors import SupplementalData
    from ophyd import Signal
    from ophyd.sim import det

    import cora_bluesky

    record = counting_record(f"sqlite:///{folder / 'record.db'}")
    RE = RunEngine({})
    RE.preprocessors.append(SupplementalData(baseline=[Signal(name=f"b{n}", value=float(n)) for n in range(10)]))
    cora_bluesky.install(RE, record, record_documents=False, outside_hutches=["b*"])
    documents: list[tuple[str, dict]] = []
    RE.subscribe(lambda name, doc: documents.append((name, doc)))
    RE(bp.count([det], num=num))
    return record, documents


def rows(quick: bool) -> list[dict]:
    from event_model import DocumentRouter

    from cora_bluesky.callbacks.recorder import CoraRecorder
    from cora_bluesky.callbacks.spool import Spool

    num = 500 if quick else 20_000
    with tempfile.TemporaryDirectory() as folder:
        record, documents = capture(num, Path(folder))
        noop = DocumentRouter()
        with stopwatch() as plain:
            for name, doc in documents:
                noop(name, doc)
        recorder = CoraRecorder(record, spool=Spool(Path(folder) / "spool"))
        with stopwatch() as total:
            with stopwatch() as handed:
                for name, doc in documents:
                    recorder(name, doc)
            assert recorder.close(900), "the recorder did not catch up"
        assert record.list_runs().items[0].status == "Completed"
        record.close()
    rate = lambda seconds: f"{len(documents) / seconds:,.0f} docs/s"  # noqa: E731
    return [
        row(f"recorder hand-off on the RunEngine thread, {len(documents):,} documents vs no-op DocumentRouter",
            rate(plain[0]), rate(handed[0]), handed[0] / plain[0], "(context)"),
        row(f"recorder end to end into SQLite, {len(documents):,} documents vs no-op DocumentRouter",
            rate(plain[0]), rate(total[0]), total[0] / plain[0], "(context)"),
    ]


if __name__ == "__main__":
    run_alone(rows, __doc__)
