"""Listing at scale: a page deep in the keyset costs what the first page costs.

N runs are put into an SQLite record by the copy path (events and projections as a real start
wrote them, cloned with new ids and times), then pages of 50 are fetched through the served app
over HTTP on 127.0.0.1: the first page, and pages from the middle of the keyset.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

from common import one_run, percentile, row, run_alone, staffed

CHUNK = 20_000


def fill(uri: str, total: int) -> None:
    from cora_bluesky.application.aggregates import RUN
    from cora_bluesky.application.codec import timestamp

    record, template = one_run(uri)
    (event,) = record.store.load(RUN.stream_id(template.id))
    projection = record.store.get("run", template.id)
    base = datetime(2021, 1, 1, tzinfo=timezone.utc)
    for first in range(0, total, CHUNK):
        events, rows = [], []
        for n in range(first, min(first + CHUNK, total)):
            run_id, at = str(uuid.uuid4()), timestamp(base + timedelta(seconds=n * 60))
            status = ("Completed", "Running", "Aborted")[n % 3]
            events.append(dataclasses.replace(
                event, event_id=str(uuid.uuid4()), stream_id=RUN.stream_id(run_id), occurred_at=at, recorded_at=at,
                kind="run", payload={**event.payload, "run_id": run_id, "occurred_at": at},
            ))
            rows.append(dataclasses.replace(
                projection, id=run_id, created_at=at, updated_at=at, status=status,
                doc={**projection.doc, "id": run_id, "created_at": at, "updated_at": at, "status": status},
            ))
        record.store.import_batch(events=events, projections=rows)
    record.close()


def _serve(app) -> tuple[str, object, threading.Thread]:
    import uvicorn

    from cora_bluesky.sim.loopback import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def pages(uri: str, total: int, repeats: int) -> tuple[list[float], list[float]]:
    import httpx

    import cora_bluesky
    from cora_bluesky.application.core import _encode_cursor
    from cora_bluesky.server import create_app

    record = staffed(cora_bluesky.connect(uri), bench=["viewer"])
    _, secret = record.issue_token(principal="bench", role="viewer")
    store = record.store
    deep_rows = store._query(  # positions around the middle of the keyset
        "SELECT created_at, id FROM projections WHERE kind = 'run' ORDER BY created_at DESC, id DESC"
        " LIMIT ? OFFSET ?", (repeats, total // 2),
    )
    base, server, thread = _serve(create_app(record))
    first, deep = [], []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}) as client:
        for _ in range(5):  # warm up
            client.get("/runs", params={"limit": 50})
        for n in range(repeats):
            started = time.perf_counter()
            answer = client.get("/runs", params={"limit": 50})
            first.append(time.perf_counter() - started)
            assert answer.status_code == 200 and len(answer.json()["items"]) == 50
            cursor = _encode_cursor(SimpleNamespace(**dict(deep_rows[n % len(deep_rows)])))  # the record's own
            started = time.perf_counter()
            answer = client.get("/runs", params={"limit": 50, "cursor": cursor})
            deep.append(time.perf_counter() - started)
            assert answer.status_code == 200 and len(answer.json()["items"]) == 50
    server.should_exit = True
    thread.join(10)
    record.close()
    return first, deep


def rows(quick: bool) -> list[dict]:
    total = 20_000 if quick else 1_000_000
    repeats = 30 if quick else 300
    with tempfile.TemporaryDirectory() as folder:
        uri = f"sqlite:///{Path(folder) / 'runs.db'}"
        fill(uri, total)
        first, deep = pages(uri, total, repeats)
    ms = lambda samples, q: percentile(samples, q) * 1000  # noqa: E731
    return [
        row(f"list runs over HTTP, {total:,} runs: page in the middle vs first page (p50)",
            f"{ms(first, 50):.2f} ms", f"{ms(deep, 50):.2f} ms", ms(deep, 50) / ms(first, 50), "<= 1.5"),
        row(f"list runs over HTTP, {total:,} runs: p99 per page (deep vs first)",
            f"{ms(first, 99):.2f} ms", f"{ms(deep, 99):.2f} ms", ms(deep, 99) / ms(first, 99), "p99 <= 20 ms",
            p99_ms=round(max(ms(first, 99), ms(deep, 99)), 3)),
    ]


if __name__ == "__main__":
    run_alone(rows, __doc__)
