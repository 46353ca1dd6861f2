"""Rebuilding every projection row from the event streams, which are the record.

A projection is only a cache of its stream's fold: lost, damaged or written by an older
cora-bluesky (one whose states lacked a field), it can be rebuilt at any time. Rebuilding is
idempotent, and safe beside writers: a stream appended to meanwhile keeps the row its append
wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from cora_bluesky.application.aggregates import AGGREGATES, CODEC
from cora_bluesky.application.codec import EventCodec
from cora_bluesky.application.ports import ProjectionRebuild
from cora_bluesky.domain import errors as e


@dataclass
class RebuildReport:
    """What a rebuild found and did."""

    #: Streams read (one per aggregate).
    streams: int = 0
    #: Events folded.
    events: int = 0
    #: Rows written because they were missing or differed from their stream's fold.
    rebuilt: int = 0
    #: Rows that already held their stream's fold (or that a concurrent append rewrote).
    current: int = 0
    #: ``(stream_id, why)`` of each stream that could not be folded; its row is left as it is.
    failed: list[tuple[str, str]] = field(default_factory=list)


def rebuild_projections(
    store: ProjectionRebuild,
    *,
    codec: EventCodec = CODEC,
    say: Callable[[str], None] = lambda line: None,
) -> RebuildReport:
    """Fold every stream of ``store`` and write its projection row where it differs.

    Parameters
    ----------
    store : ProjectionRebuild
        Any store of the record (``open_store(uri)``).
    codec : EventCodec
        How stored events are read, older versions upcast.
    say : callable
        Takes a line of progress now and then.

    Returns
    -------
    RebuildReport
        Counts of streams, events, rows rebuilt and rows already current; a second rebuild
        of an unchanged record rebuilds nothing.
    """
    report = RebuildReport()
    for kind, stream_id in store.stream_ids():
        report.streams += 1
        aggregate = AGGREGATES.get(kind)
        stored = store.load(stream_id)  # a store that is unavailable ends the rebuild
        try:
            if aggregate is None:
                raise e.UnreadableEventError(f"no aggregate kind {kind!r}")
            state = aggregate.fold(codec.decode_event(s.event_type, s.type_version, s.payload) for s in stored)
            changed = store.replace_projection(stream_id, aggregate.project(state, stored[-1].version))
        except e.StoreError:
            raise
        except (e.CoraError, KeyError, TypeError, ValueError, AttributeError) as error:
            # one unreadable stream must not keep the others from being rebuilt
            report.failed.append((stream_id, f"{type(error).__name__}: {error}"))
            continue
        report.events += len(stored)
        if changed:
            report.rebuilt += 1
        else:
            report.current += 1
        if report.streams % 1000 == 0:
            say(f"streams: {report.streams}")
    return report
