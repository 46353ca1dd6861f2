"""What happened to one aggregate, in order: the events of its stream as a timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from cora_bluesky.application.aggregates import AGGREGATES
from cora_bluesky.application.codec import parse_timestamp
from cora_bluesky.application.core import RecordCore
from cora_bluesky.domain import errors as e


@dataclass(frozen=True)
class Moment:
    """One recorded event: when it happened, what it is called, who did it and its payload."""

    at: datetime
    event: str
    actor: str
    details: Mapping[str, Any]


_NOT_FOUND = {"run": e.RunNotFoundError, "procedure": e.ProcedureNotFoundError, "clearance": e.ClearanceNotFoundError}


class TimelineQueries(RecordCore):
    def timeline(self, kind: str, aggregate_id: str) -> list[Moment]:
        """Every event recorded for a run, procedure, clearance (or any aggregate), oldest first.

        Raises
        ------
        RunNotFoundError, ProcedureNotFoundError, ClearanceNotFoundError, NotFoundError
            If the record holds no such aggregate.
        """
        aggregate = AGGREGATES.get(kind)
        if aggregate is None:
            raise e.InvalidInputError(f"no kind {kind!r}; one of {', '.join(sorted(AGGREGATES))}", kind=kind)
        stored = self.store.load(aggregate.stream_id(aggregate_id))
        if not stored:
            raise _NOT_FOUND.get(kind, e.NotFoundError)(f"no {kind} {aggregate_id}", **{f"{kind}_id": aggregate_id})
        return [Moment(parse_timestamp(s.occurred_at), s.event_type, s.actor, dict(s.payload)) for s in stored]
