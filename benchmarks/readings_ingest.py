"""Readings ingest: rows appended through the record vs the same rows through the raw driver.

The record validates every reading (finite value, bounded channel and units, zoned time not in
the future, known sampling procedure) and writes it with its audit columns in one transaction
per batch; the raw baseline inserts the same rows into an equivalent table (same columns and
CHECK constraints, same WAL settings) with ``executemany``, one transaction per batch.
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import one_run, row, run_alone, stopwatch

BATCH = 5_000


def _readings(total: int, start: datetime):
    from cora_bluesky.domain.run import Reading

    for n in range(total):
        yield Reading(str(uuid.uuid4()), f"channel_{n % 20}", float(n) * 0.5, "monitor",
                      start + timedelta(microseconds=n), "mA")


def through_record(total: int, uri: str) -> float:
    record, run = one_run(uri)
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    batch, written = [], 0
    with stopwatch() as elapsed:
        for reading in _readings(total, start):
            batch.append(reading)
            if len(batch) == BATCH:
                written += record.append_run_readings(run.id, batch)
                batch = []
        if batch:
            written += record.append_run_readings(run.id, batch)
    assert written == total
    record.close()
    return elapsed[0]


def raw_sqlite(total: int, path: Path) -> float:
    from cora_bluesky.storage.sqlite_schema import V1

    table = next(statement for statement in V1 if "CREATE TABLE entries_run_readings" in statement)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(table)
    conn.execute("CREATE INDEX entries_run_readings_run_sampled ON entries_run_readings (run_id, sampled_at)")
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    now = datetime.now(timezone.utc).isoformat()
    run_id, logbook = str(uuid.uuid4()), str(uuid.uuid4())
    sql = ("INSERT INTO entries_run_readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
           " ON CONFLICT (event_id) DO NOTHING")
    with stopwatch() as elapsed:
        batch = []
        for reading in _readings(total, start):
            batch.append((reading.event_id, run_id, logbook, "bench", "AppendRunReading", reading.channel_name,
                          reading.value, reading.units, reading.sampling_procedure, reading.sampled_at.isoformat(),
                          now, "corr", None, now))
            if len(batch) == BATCH:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, batch)
                conn.execute("COMMIT")
                batch = []
        if batch:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, batch)
            conn.execute("COMMIT")
    conn.close()
    return elapsed[0]


def raw_mongomock(total: int) -> float | None:
    try:
        import mongomock
    except ImportError:
        return None
    collection = mongomock.MongoClient()["bench"]["entries_run_readings"]
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    with stopwatch() as elapsed:
        batch = []
        for reading in _readings(total, start):
            batch.append({"_id": reading.event_id, "channel_name": reading.channel_name, "value": reading.value,
                          "units": reading.units, "sampling_procedure": reading.sampling_procedure,
                          "sampled_at": reading.sampled_at.isoformat()})
            if len(batch) == BATCH:
                collection.insert_many(batch)
                batch = []
        if batch:
            collection.insert_many(batch)
    return elapsed[0]


def rows(quick: bool) -> list[dict]:
    total = 20_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory() as folder:
        cora = through_record(total, f"sqlite:///{Path(folder) / 'record.db'}")
        raw = raw_sqlite(total, Path(folder) / "raw.db")
        mongo = raw_mongomock(min(total, 200_000))
    rate = lambda seconds, n=total: f"{n / seconds:,.0f} rows/s"  # noqa: E731
    found = [row(f"readings ingest: {total:,} rows, record vs sqlite3.executemany",
                 rate(raw), rate(cora), raw / cora, ">= 0.5")]
    if mongo is not None:
        n = min(total, 200_000)
        found.append(row(f"readings ingest: {n:,} rows, pymongo insert_many on mongomock (context)",
                         rate(raw), rate(mongo, n), (raw / total) / (mongo / n), "(context)"))
    return found


if __name__ == "__main__":
    run_alone(rows, __doc__)
