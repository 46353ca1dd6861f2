"""Moving a whole record from one store to another, verified stream by stream.

Both stores are used through :class:`~cora_bluesky.application.ports.Copying` only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from cora_bluesky.application.ports import Copying
from cora_bluesky.domain import errors as e

LOGBOOKS = ("entries_run_readings", "entries_operation_procedure_steps")
BATCH = 2000


@dataclass
class Inventory:
    """What a record holds, in a form two stores can compare: counts and digests."""

    streams: dict[str, str] = field(default_factory=dict)
    events: int = 0
    projections: int = 0
    logbooks: dict[str, tuple[int, str]] = field(default_factory=dict)


def _digest(items: Iterable[Any]) -> str:
    sha = hashlib.sha256()
    for item in items:
        sha.update(json.dumps(item, sort_keys=True, default=str).encode())
        sha.update(b"\n")
    return sha.hexdigest()


def inventory(store: Copying) -> Inventory:
    """Count everything and digest every stream and logbook of a store."""
    found = Inventory()
    per_stream: dict[str, list] = {}
    for event in store.dump_events():
        found.events += 1
        per_stream.setdefault(event.stream_id, []).append(
            (event.version, event.event_id, event.event_type, event.type_version, event.payload,
             event.occurred_at, event.recorded_at, event.actor, event.correlation_id, event.causation_id)
        )
    found.streams = {stream: _digest(sorted(rows, key=lambda r: r[0])) for stream, rows in per_stream.items()}
    found.projections = sum(1 for _ in store.dump_projections())
    for table in LOGBOOKS:
        rows = sorted((dict(row) for row in store.dump_entries(table)), key=lambda row: row["event_id"])
        found.logbooks[table] = (len(rows), _digest(rows))
    return found


def _batches(items: Iterator[Any], size: int = BATCH) -> Iterator[list[Any]]:
    while batch := list(islice(items, size)):
        yield batch


def copy_record(
    source: Copying, target: Copying, *, merge: bool = False, say: Callable[[str], None] = lambda line: None
) -> Inventory:
    """Copy every stream, projection and logbook row from ``source`` to ``target``.

    Ids and timestamps are kept; rows the target already holds are skipped, so a copy that was
    interrupted can simply be run again. The copy is verified (counts and a digest per stream
    and logbook) before this returns.

    Raises
    ------
    StoreError
        If the target holds a record and ``merge`` is false, or the copy does not verify.
    """
    if not merge and not target.is_empty():
        raise e.StoreError("the target already holds a record; pass --merge to copy into it anyway")
    moved = 0
    for batch in _batches(source.dump_events()):
        target.import_batch(events=batch)
        moved += len(batch)
        say(f"events: {moved}")
    for table in LOGBOOKS:
        moved = 0
        for batch in _batches(source.dump_entries(table)):
            target.import_batch(table=table, entries=batch)
            moved += len(batch)
            say(f"{table}: {moved}")
    for batch in _batches(source.dump_projections()):
        target.import_batch(projections=batch)
    expected, copied = inventory(source), inventory(target)
    differing = sorted(stream for stream, digest in expected.streams.items() if copied.streams.get(stream) != digest)
    if differing or any(copied.logbooks[t] != expected.logbooks[t] for t in LOGBOOKS):
        raise e.StoreError(
            f"the copy does not verify: {len(differing)} stream(s) differ", streams=differing[:20]
        )
    if not merge and (copied.events, copied.projections) != (expected.events, expected.projections):
        raise e.StoreError("the copy does not verify: event or projection counts differ")
    say(f"verified: {expected.events} events in {len(expected.streams)} streams, {expected.projections} projections")
    return expected
