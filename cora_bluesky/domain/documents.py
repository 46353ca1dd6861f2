"""What a Bluesky run's documents say to the record: its readings, and how a finished run ended.

The recorder reads documents as the RunEngine emits them; the importer reads them back out of a
catalog, years later. Both keep the same readings under the same ids, so a run seen both ways
is not recorded twice.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from numbers import Real
from typing import Any, Iterable, Mapping

from cora_bluesky.domain.digest import RunDigest, unpack_page
from cora_bluesky.domain.rules import REASON_LENGTH

#: The reason a run that failed without a message ends with.
FAILED_WITHOUT_MESSAGE = "the plan failed without a message"
#: The reason of a historic run whose catalog holds no stop document.
NO_STOP = (
    "the catalog holds no stop document for this Bluesky run; it is taken to have ended at its"
    " last document, for reasons the record cannot know"
)


def at(timestamp: float) -> datetime:
    """A document's epoch time as an aware UTC datetime."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def names(value: Any) -> list[str]:
    """The names a metadata field gives: one name, or the names among a list of anything."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return [item for item in value if isinstance(item, str)]
    return []


def named_devices(start: Mapping[str, Any]) -> list[str]:
    """The devices a start document names: its ``detectors``, then its ``motors``."""
    return names(start.get("detectors")) + names(start.get("motors"))


def reading_procedure(stream: str) -> str | None:
    """The sampling procedure a stream's events are readings of, if any."""
    if stream == "baseline":
        return "baseline"
    if stream.endswith("_monitor"):
        return "monitor"
    return None


def reading_id(descriptor: str, seq_num: int, key: str, timestamp: Any) -> str:
    """The record's id of one value: the same for a re-emission, short enough for ``ENTRY_ID``.

    A rewind re-emits an event with the same descriptor and ``seq_num`` and re-reads the same
    sample (same source timestamp); a monitor's second event with a ``seq_num`` already used
    carries another sample. The key is hashed, so a long data key never makes the id too long.
    """
    digest = hashlib.sha256(f"{key}\0{timestamp!r}".encode()).hexdigest()[:32]
    return f"{descriptor[:50]}:{seq_num}:{digest}"


def units_of(meta: Mapping[str, Any]) -> str | None:
    """A blank unit (an EPICS PV without EGU, ophyd's soft positioners) is no unit."""
    units = meta.get("units")
    return units.strip() or None if isinstance(units, str) else units


def readings_of(
    event: Mapping[str, Any], procedure: str, units: Mapping[str, str | None]
) -> tuple[list[dict[str, Any]], int]:
    """The readings an event of a baseline or monitor stream holds, and how many values were
    not readings (not finite real numbers: arrays, text, booleans, NaN)."""
    readings, rejected = [], 0
    timestamps = event.get("timestamps") or {}
    for key, value in (event.get("data") or {}).items():
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
            rejected += 1
            continue
        when = timestamps.get(key, event["time"])
        readings.append(
            {
                "event_id": reading_id(event["descriptor"], event["seq_num"], key, when),
                "channel_name": key,
                "value": float(value),
                "units": units.get(key),
                "sampling_procedure": procedure,
                "sampled_at": at(when),
            }
        )
    return readings, rejected


@dataclass(frozen=True)
class Ending:
    """How a finished Bluesky run ended, as its documents tell it."""

    #: ``Completed``, ``Aborted`` or ``Truncated``
    status: str
    #: the stop document's time, or (no stop) the last document's
    at: datetime
    reason: str | None = None


def historic_ending(stop: Mapping[str, Any] | None, started: float, last: float) -> Ending:
    """The ending of a run read from a catalog.

    ``success`` completes it; ``abort``, ``fail`` or any other exit status aborts it with the
    stop document's reason (or one saying there was none); no stop document truncates it at
    its last document. No ending comes before the start.
    """
    if stop is None:
        return Ending("Truncated", at(max(started, last)), NO_STOP)
    when = stop.get("time")
    when = at(max(started, when)) if _real(when) else at(max(started, last))
    status = stop.get("exit_status")
    if status == "success":
        return Ending("Completed", when)
    said = stop.get("reason")
    said = said.strip() if isinstance(said, str) else ""
    if not said:
        said = (
            FAILED_WITHOUT_MESSAGE if status == "fail"
            else "the Bluesky run was aborted; its stop document gives no reason" if status == "abort"
            else f"the stop document's exit status is {str(status)[:100]!r}"
        )
    return Ending("Aborted", when, said[:REASON_LENGTH])


def _real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


@dataclass
class HistoricRun:
    """One Bluesky run read whole from a catalog: what the importer records of it."""

    start: Mapping[str, Any]
    stop: Mapping[str, Any] | None
    readings: list[dict[str, Any]]
    #: values of baseline and monitor streams that were not readings
    rejected: int
    #: the latest time any of its documents carries
    last: float
    digest: RunDigest

    @property
    def uid(self) -> str:
        return self.start["uid"]

    @property
    def started(self) -> float:
        return self.start["time"]

    def ending(self) -> Ending:
        return historic_ending(self.stop, self.started, self.last)


def read_run(documents: Iterable[tuple[str, Mapping[str, Any]]]) -> HistoricRun:
    """Fold a run's ``(name, doc)`` pairs, in the order a catalog returns them.

    Raises
    ------
    ValueError
        The documents hold no start document, or it has no uid or no time.
    """
    start: Mapping[str, Any] | None = None
    stop = None
    streams: dict[str, str] = {}
    units: dict[str, dict[str, str | None]] = {}
    readings: list[dict[str, Any]] = []
    rejected = 0
    times: list[float] = []
    digest = RunDigest()
    for name, doc in documents:
        digest.add(name, doc)
        if name == "start":
            start = doc
        elif name == "stop":
            stop = doc or None  # Tiled answers a run that never stopped with an empty stop
        elif name == "descriptor":
            streams[doc["uid"]] = doc.get("name", "")
            units[doc["uid"]] = {key: units_of(meta) for key, meta in (doc.get("data_keys") or {}).items()}
        events = [doc] if name == "event" else unpack_page(doc) if name == "event_page" else ()
        for event in events:
            times.append(event["time"])
            procedure = reading_procedure(streams.get(event["descriptor"], ""))
            if procedure is not None:
                found, refused = readings_of(event, procedure, units[event["descriptor"]])
                readings.extend(found)
                rejected += refused
        if name != "stop" and _real(doc.get("time")):
            times.append(doc["time"])
    if start is None or not isinstance(start.get("uid"), str) or not _real(start.get("time")):
        raise ValueError("the documents hold no start document with a uid and a time")
    last = max((t for t in times if _real(t)), default=start["time"])
    return HistoricRun(start, stop, _unique(readings), rejected, last, digest)


def _unique(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One reading per id, the last kept (a re-emitted event), in the order first seen."""
    return list({reading["event_id"]: reading for reading in readings}.values())
