"""What happened to one aggregate, in order: the events of its stream as a timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from cora_bluesky.application.aggregates import AGGREGATES
from cora_bluesky.application.codec import parse_timestamp
from cora_bluesky.application.core import RecordCore
from cora_bluesky.application.slices import not_found


@dataclass(frozen=True)
class Moment:
    """One recorded event: when it happened, what it is called, who did it and its payload."""

    at: datetime
    event: str
    actor: str
    details: Mapping[str, Any]


class TimelineQueries(RecordCore):
    def timeline(self, kind: str, aggregate_id: str) -> list[Moment]:
        """Every event recorded for a run, procedure, clearance (or any aggregate), oldest first.

        Raises
        ------
        RunNotFoundError, ProcedureNotFoundError, ClearanceNotFoundError, NotFoundError
            If the record holds no such aggregate.
        """
        stored = self.history(kind, aggregate_id)
        if not stored:
            raise not_found(AGGREGATES[kind])(f"no {kind} {aggregate_id}", **{f"{kind}_id": aggregate_id})
        return [Moment(parse_timestamp(s.occurred_at), s.event_type, s.actor, dict(s.payload)) for s in stored]
