"""What each page tells, gathered from the record: no HTML here, only what the templates show."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from cora_bluesky.application.record import Record
from cora_bluesky.application.slices import CLEARANCES, Slice
from cora_bluesky.console import describe, plan_label
from cora_bluesky.domain import clearance as c
from cora_bluesky.domain import errors as e
from cora_bluesky.application.ports import every
from cora_bluesky.domain.gates import Permit
from cora_bluesky.server.web.plots import Mark, Point, Span

ENDINGS = {"RunCompleted", "RunStopped", "RunAborted", "RunTruncated"}
OPEN = {"Running", "Held"}


def duration(run, now: datetime) -> timedelta:
    """How long the run ran: as its recorder measured it, else from its record, else so far."""
    if run.summary and isinstance(run.summary.get("duration_s"), (int, float)):
        return timedelta(seconds=run.summary["duration_s"])
    if run.interrupted_at is not None:
        return run.interrupted_at - run.created_at
    return (now if str(run.status) in OPEN else run.updated_at) - run.created_at


def span_text(length: timedelta) -> str:
    seconds = length.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


@dataclass(frozen=True)
class Segment:
    """A stretch of the run: ``running``, ``held``, or ``unwatched`` (after it died, before truncation)."""

    kind: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Line:
    at: datetime
    event: str
    actor: str
    text: str


@dataclass
class RunStory:
    run: Any
    plan: str
    subject: str | None
    segments: list[Segment]
    lines: list[Line]
    steers: list[Mapping[str, Any]]
    ended_at: datetime | None
    parameters: list[tuple[str, Any, Any]]
    channels: list[Mapping[str, Any]]
    calibrations: list[Any]
    clearances: list[Mapping[str, Any]]
    duration: timedelta
    holds: list[Span] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)

    @property
    def bar(self) -> list[tuple[str, datetime, datetime, str]]:
        """The timeline bar's stretches, each labelled with what it was and how long."""
        said = {"running": "running", "held": "held", "unwatched": "no one watching: died, not yet truncated"}
        return [(s.kind, s.start, s.end, f"{said[s.kind]} for {span_text(s.end - s.start)}") for s in self.segments]


def segments_of(moments: list, run, now: datetime) -> tuple[list[Segment], datetime | None]:
    """Running and held stretches from the run's events; the ending closes the last one."""
    found: list[Segment] = []
    kind, since, ended = "running", run.created_at, None
    for moment in moments:
        if moment.event == "RunHeld" and kind == "running":
            found.append(Segment("running", since, moment.at))
            kind, since = "held", moment.at
        elif moment.event == "RunResumed" and kind == "held":
            found.append(Segment("held", since, moment.at))
            kind, since = "running", moment.at
        elif moment.event in ENDINGS:
            ended = moment.at
    if ended is None:
        found.append(Segment(kind, since, now))
    elif run.interrupted_at is not None and since <= run.interrupted_at <= ended:
        # it died unwatched: the record knows only when it was last seen and when a person said so
        found += [Segment(kind, since, run.interrupted_at), Segment("unwatched", run.interrupted_at, ended)]
    else:
        found.append(Segment(kind, since, ended))
    return found, ended


def _in_force_at(record: Record, clearance, moment: datetime) -> bool:
    """Whether ``clearance`` was Active at ``moment``, from its own timeline."""
    active = False
    for step in record.timeline("clearance", clearance.id):
        if step.at > moment:
            break
        if step.event == "ClearanceActivated":
            active = True
        elif step.event in {"ClearanceExpired", "ClearanceSuperseded", "ClearanceRejected"}:
            active = False
    return active


def run_story(record: Record, run_id: str) -> RunStory:
    run = record.get_run(run_id)
    now = record.now()
    moments = record.timeline("run", run.id)
    plan = plan_label(record, run)
    subject = record.get_subject(run.subject_id).name if run.subject_id else None
    segments, ended = segments_of(moments, run, now)
    lines = [Line(m.at, m.event, m.actor, said) for m in moments
             if (said := describe(m.event, m.details)) is not None]
    steers = [{"at": m.at, "actor": m.actor, "patch": m.details.get("parameter_patch"),
               "reason": m.details.get("reason")} for m in moments if m.event == "RunAdjusted"]
    started = next((m.details for m in moments if m.event == "RunStarted"), {})
    before = dict(started.get("effective_parameters") or {})
    after = dict(run.effective_parameters)
    parameters = [(key, before.get(key), after.get(key)) for key in sorted(set(before) | set(after))]
    holds = [Span(s.start, s.end, f"held {span_text(s.end - s.start)}") for s in segments if s.kind == "held"]
    by_channel: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for reading in record.list_run_readings(run.id):
        by_channel[reading["channel_name"]].append(reading)
    channels = []
    for name, rows in sorted(by_channel.items()):
        rows.sort(key=lambda row: row["sampled_at"])
        channels.append({
            "name": name,
            "units": next((row["units"] for row in rows if row.get("units")), None),
            "streams": sorted({row["sampling_procedure"] for row in rows}),
            "points": [Point(row["sampled_at"], row["value"], label=f"{row['value']:g} ({row['sampling_procedure']})")
                       for row in rows],
        })
    calibrations = [record.get_calibration(revision) for revision in run.pinned_calibrations]
    covering = record.clearances_covering(run_id=run.id, subject_id=run.subject_id, asset_ids=run.asset_ids)
    clearances = [{"clearance": found, "in_force": _in_force_at(record, found, run.created_at)}
                  for found in sorted(covering, key=lambda found: found.created_at)]
    marks = [Mark(steer["at"], "steer", f"steered {steer['patch']}: {steer['reason']}") for steer in steers]
    marks += [Mark(line.at, "ending", line.text) for line in lines if line.event in ENDINGS]
    return RunStory(run, plan, subject, segments, lines, steers, ended, parameters, channels, calibrations,
                    clearances, duration(run, now), holds, marks)


def run_rows(record: Record, runs: Iterable[Any]) -> list[Mapping[str, Any]]:
    """A listing's rows: each run with its duration, holds and steers."""
    now = record.now()
    return [{"run": run, "duration": span_text(duration(run, now)), "holds": run.hold_count,
             "steers": run.adjustment_count} for run in runs]


def source_link(record: Record, source) -> tuple[str | None, str]:
    """Where a calibration came from: a link (procedure, dataset) or a name (a person)."""
    kind, ref = str(source.kind), source.ref
    if kind == "procedure":
        try:
            said = f"procedure {record.get_procedure(ref).name}"
        except e.ProcedureNotFoundError:
            said = f"procedure {ref}"
        return f"/view/procedures/{ref}", said
    if kind == "dataset":
        return ref, f"dataset {ref}"
    return None, f"{kind} {ref}"


def calibration_series(record: Record) -> list[Mapping[str, Any]]:
    """Per asset and quantity, its calibration revisions over time, each point linked to its source."""
    series = []
    for asset in sorted(every(record.list_assets), key=lambda asset: asset.name):
        by_quantity: dict[str, list[Any]] = defaultdict(list)
        for revision in record.list_calibrations(asset.id):
            by_quantity[revision.quantity].append(revision)
        for quantity, revisions in sorted(by_quantity.items()):
            points = []
            for revision in revisions:
                href, said = source_link(record, revision.source)
                units = f" {revision.units}" if revision.units else ""
                points.append(Point(revision.created_at, revision.value, href or None,
                                    f"{revision.value:g}{units} from {said}"))
            sources = [source_link(record, revision.source) for revision in revisions]
            series.append({"asset": asset, "quantity": quantity, "units": revisions[-1].units,
                           "rows": list(zip(revisions, sources)), "points": points})
    return series


def read_permits(record: Record, enclosures: list[Any]) -> Mapping[str, Permit]:
    """Each hutch's permit, read now from the record's permit source; unreadable is not permitted."""
    if not enclosures:
        return {}
    if record.permits is None:
        return {hutch.id: Permit(hutch.id, False, "no permit source is configured for this record")
                for hutch in enclosures}
    try:
        return record.permits.permits(enclosures)
    except Exception as failure:  # the board still shows, failing closed, whatever the PSS read raised
        return {hutch.id: Permit(hutch.id, False, f"cannot read: {failure}") for hutch in enclosures}


#: review transitions: the slice row of each clearance command, and the states it may leave from
REVIEWS: list[tuple[Slice, frozenset]] = [
    (row, c.TRANSITIONS[getattr(c, row.command)][0]) for row in CLEARANCES
    if row.category.value == "modified" and getattr(c, row.command) in c.TRANSITIONS
]


def transitions(clearance, may) -> list[Slice]:
    """The slices the viewer may perform on ``clearance`` now: its state allows them, their role grants them."""
    return [row for row, sources in REVIEWS if clearance.status in sources and may(row.duty)
            and row.command != "BindClearance"]  # binding adds scope; it is no review transition


def names(record: Record, ids: Iterable[str], getter: str) -> list[tuple[str, str]]:
    """``(id, name)`` for each id, the id alone for one the record does not hold."""
    found = []
    for ident in ids:
        try:
            item = getattr(record, getter)(ident)
            found.append((ident, getattr(item, "name", None) or getattr(item, "title", ident)))
        except e.NotFoundError:
            found.append((ident, ident))
    return found
