"""The record on a MongoDB wire-protocol server (SecantusDB on loopback, started for the run).

Readings ingest: rows through the record (validation, audit columns, one transaction per batch
with its version check) against the same documents through pymongo ``insert_many`` into an
equivalent collection (same validator and index); and through the store alone, to tell the
store's cost from the record's checks. ``count``: a 1,000-event scan recorded by cora
(until its recorder has caught up) against suitcase-mongo's ``Serializer`` writing the same
scan to the same server (context: suitcase writes documents, cora writes a record).
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import counting_record, row, run_alone, stopwatch
from readings_ingest import BATCH, _readings, through_record

ROUNDS = 3


def _rows(total: int):
    """The readings as the record stores them, built as they are inserted (as the record does)."""
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    now = datetime.now(timezone.utc).isoformat()
    run_id, logbook = "r1", str(uuid.uuid4())
    for reading in _readings(total, start):
        yield {"event_id": reading.event_id, "run_id": run_id, "logbook_id": logbook, "actor_id": "bench",
               "command_name": "AppendRunReading", "channel_name": reading.channel_name, "value": reading.value,
               "units": reading.units, "sampling_procedure": reading.sampling_procedure,
               "sampled_at": reading.sampled_at.isoformat(), "occurred_at": now, "correlation_id": "corr",
               "causation_id": None}


def _batches(rows):
    batch = []
    for found in rows:
        batch.append(found)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def raw_insert_many(total: int, server) -> float:
    import pymongo

    from cora_bluesky.storage.mongo import _VALIDATORS

    client = pymongo.MongoClient(server.uri)
    db = client[f"raw_{uuid.uuid4().hex}"]
    collection = db.create_collection("entries_run_readings", validator=_VALIDATORS["entries_run_readings"])
    collection.create_index([("run_id", 1), ("sampled_at", 1)])
    with stopwatch() as elapsed:
        for batch in _batches(_rows(total)):
            collection.insert_many([{"_id": r["event_id"], **r, "recorded_at": r["occurred_at"]} for r in batch],
                                   ordered=False)
    client.drop_database(db.name)
    client.close()
    return elapsed[0]


def store_alone(total: int, uri: str) -> float:
    """The store's append (transaction, lock, version check) with rows the record already checked."""
    from cora_bluesky.application.ports import Append, NewEvent
    from cora_bluesky.storage import open_store

    store = open_store(uri)
    store.append(Append("run:r1", "run", 0, [NewEvent(str(uuid.uuid4()), "RunStarted", {}, "t", "a", "c")]))
    with stopwatch() as elapsed:
        for batch in _batches(_rows(total)):
            store.append(Append("run:r1", "run", 1, readings=batch))
    store.close()
    return elapsed[0]


def _count(RE, num: int) -> float:
    import bluesky.plans as bp
    from ophyd.sim import det

    with stopwatch() as elapsed:
        RE(bp.count([det], num=num))
    return elapsed[0]


def count_with_cora(num: int, uri: str, folder: Path) -> float:
    from bluesky import RunEngine

    import cora_bluesky

    RE = RunEngine({})
    record = counting_record(uri)
    cora = cora_bluesky.install(RE, record, spool=folder / "spool")
    with stopwatch() as elapsed:
        _count(RE, num)
        assert cora.close(900), "the recorder did not catch up"
    assert record.list_runs().items[0].status == "Completed"
    record.close()
    return elapsed[0]


def count_with_suitcase(num: int, server) -> float | None:
    try:
        from suitcase.mongo_normalized import Serializer
    except ImportError:
        return None
    import pymongo
    from bluesky import RunEngine

    client = pymongo.MongoClient(server.uri)
    name = f"suitcase_{uuid.uuid4().hex}"
    RE = RunEngine({})
    RE.subscribe(Serializer(client[name], client[name]))
    seconds = _count(RE, num)
    client.drop_database(name)
    client.close()
    return seconds


def rows(quick: bool) -> list[dict]:
    from cora_bluesky.sim.wire_server import WireServer, executable

    if executable() is None:
        return [row("MongoDB server: SecantusDB not installed (pip install secantusdb)", "", "", None, "")]
    total = 20_000 if quick else 100_000
    num = 100 if quick else 1_000
    rate = lambda seconds, n=total: f"{n / seconds:,.0f} rows/s"  # noqa: E731
    fresh = lambda: server.database_uri(f"cora_{uuid.uuid4().hex}")  # noqa: E731
    with WireServer() as server, tempfile.TemporaryDirectory() as folder:
        # alternated and the best of each kept: the server shares the machine's cores
        times: dict[str, list[float]] = {"raw": [], "cora": [], "store": []}
        for _ in range(1 if quick else ROUNDS):
            times["raw"].append(raw_insert_many(total, server))
            times["cora"].append(through_record(total, fresh()))
            times["store"].append(store_alone(total, fresh()))
        raw, cora, store = (min(times[k]) for k in ("raw", "cora", "store"))
        counted = count_with_cora(num, fresh(), Path(folder))
        suitcase = count_with_suitcase(num, server)
    found = [row(f"readings ingest on a MongoDB server: {total:,} rows, record vs pymongo insert_many",
                 rate(raw), rate(cora), raw / cora, ">= 0.8"),
             row(f"readings ingest on a MongoDB server: {total:,} rows, the store alone vs pymongo insert_many",
                 rate(raw), rate(store), raw / store, "(context)")]
    if suitcase is not None:
        found.append(row(f"count N={num} recorded on a MongoDB server: cora (until caught up) vs suitcase-mongo",
                         f"{suitcase:.2f} s (suitcase)", f"{counted:.2f} s", counted / suitcase, "(context)"))
    return found


if __name__ == "__main__":
    run_alone(rows, __doc__)
