"""What the ``cora`` console prints: listings, and the timeline of a run, procedure or clearance."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cora_bluesky.domain import errors as e


def _when(moment) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "-"


def run_line(run) -> str:
    return f"{run.id}  {run.status:9}  {_when(run.created_at)}  {run.name}"


def procedure_line(procedure) -> str:
    return f"{procedure.id}  {procedure.status:9}  {_when(procedure.created_at)}  {procedure.name} ({procedure.kind})"


def clearance_line(clearance) -> str:
    return f"{clearance.id}  {clearance.status:11}  {clearance.form_type:12}  {clearance.title}"


def describe(event: str, d: dict[str, Any]) -> str | None:
    """A timeline line for one event; ``None`` for bookkeeping not worth a line.

    The console and the web view both tell events in these words.
    """
    reason = f": {d['reason']}" if d.get("reason") else ""
    match event:
        case "RunImported":
            return f"imported from {d.get('source')}: read from the catalog, never gated"
        case "RunStarted":
            return f"started by {d.get('triggered_by') or '?'} with {d.get('effective_parameters')}"
        case "RunHeld":
            return "held"
        case "RunResumed":
            return "resumed"
        case "RunAdjusted":
            return f"steered {d.get('parameter_patch')}{reason}"
        case "RunAssetsJoined":
            return f"joined by {', '.join(d.get('devices') or d.get('asset_ids') or [])}"
        case "RunDatasetLinked":
            scan = f" (scan {d['scan_id']})" if d.get("scan_id") is not None else ""
            return f"data at {d.get('uri')}{scan}"
        case "RunDatasetSealed":
            return f"data sealed: {d.get('documents')} document(s), sha256 {str(d.get('digest'))[:16]}..."
        case "RunSummarized" | "RunReadingLogbookOpened" | "ProcedureStepsLogbookOpened":
            return None
        case "RunTruncated" | "ProcedureTruncated":
            guess = f" (interrupted at {d['interrupted_at']})" if d.get("interrupted_at") else ""
            return f"truncated{reason}{guess}"
    verb = event
    for prefix in ("Run", "Procedure", "Clearance"):
        if verb.startswith(prefix):
            verb = verb[len(prefix):]
    return verb.lower() + reason


def _timeline(record, kind: str, ident: str) -> list[str]:
    lines = []
    for moment in record.timeline(kind, ident):
        said = describe(moment.event, moment.details)
        if said is not None:
            lines.append(f"  {_when(moment.at)}  {said}")
    return lines


def plan_label(record, run) -> str:
    """The run's plan by name; an imported run no CORA Plan answers to by its Bluesky plan's."""
    if run.plan_id is None:
        said = run.imported.bluesky_plan if run.imported is not None else None
        return f"{said or 'unknown'} (Bluesky plan; no CORA plan answers to it)"
    try:
        return record.get_plan(run.plan_id).name
    except e.PlanNotFoundError:
        return run.plan_id


def show_run(record, run_id: str) -> list[str]:
    """The run's story: what it is, its timeline (holds, steers with reasons, its ending), its
    readings, the calibrations it pinned and where its data is."""
    run = record.get_run(run_id)
    plan = plan_label(record, run)
    subject = record.get_subject(run.subject_id).name if run.subject_id else "no subject"
    lines = [f"run {run.id}: {run.name} ({run.status})", f"  plan {plan}; subject {subject}",
             f"  parameters {dict(run.effective_parameters)}", "timeline"]
    lines += _timeline(record, "run", run.id)
    readings = record.list_run_readings(run.id)
    by_channel: dict[str, list] = defaultdict(list)
    for reading in readings:
        by_channel[reading["channel_name"]].append(reading)
    lines.append(f"readings: {len(readings)}" + ("" if readings else " (none)"))
    for channel, rows in sorted(by_channel.items()):
        units = f" {rows[0]['units']}" if rows[0].get("units") else ""
        values = [row["value"] for row in rows]
        lines.append(f"  {channel}: {len(rows)}, {min(values):g}..{max(values):g}{units}")
    lines.append("pinned calibrations:" + ("" if run.pinned_calibrations else " none"))
    for revision_id in run.pinned_calibrations:
        revision = record.get_calibration(revision_id)
        units = f" {revision.units}" if revision.units else ""
        lines.append(f"  {revision.quantity} = {revision.value}{units} (revision {revision.id})")
    lines.append("data:" + ("" if run.datasets else " not linked"))
    for d in run.datasets:
        scan = f"scan {d.scan_id}, " if d.scan_id is not None else ""
        sealed = f"sha256 {d.digest} over {d.documents} document(s)" if d.digest else "no digest recorded"
        lines.append(f"  {d.uri}  ({scan}start uid {d.start_uid}; {sealed})")
    if run.summary:
        lines.append(f"summary: {dict(run.summary)}")
    return lines


def verify_run(record, run_id: str) -> tuple[list[str], bool]:
    """Whether the catalog still holds each linked Bluesky run's documents; the lines and the verdict."""
    lines, ok = [], True
    for found in record.verify_run_data(run_id):
        ok = ok and found.ok
        lines.append(f"{found.start_uid}  {found.verdict.value}  {found.uri}")
        if found.recorded or found.found:
            lines.append(f"  recorded sha256 {found.recorded or '-'}")
            lines.append(f"  catalog  sha256 {found.found or '-'}")
        if found.why:
            lines.append(f"  {found.why}")
    return lines, ok


def show_procedure(record, procedure_id: str) -> list[str]:
    """The procedure's story: its timeline, its steps by kind and the calibrations it left."""
    procedure = record.get_procedure(procedure_id)
    lines = [f"procedure {procedure.id}: {procedure.name} ({procedure.kind}, {procedure.status})"]
    if procedure.parent_run_id:
        lines.append(f"  a phase of run {procedure.parent_run_id}")
    lines.append("timeline")
    lines += _timeline(record, "procedure", procedure.id)
    steps = record.list_procedure_steps(procedure.id)
    kinds: dict[str, int] = defaultdict(int)
    for step in steps:
        kinds[step.get("step_kind") or step.get("kind") or "step"] += 1
    lines.append(f"steps: {len(steps)}" + "".join(f", {kind} {count}" for kind, count in sorted(kinds.items())))
    left = [c for asset in procedure.target_asset_ids for c in record.list_calibrations(asset)
            if getattr(c.source, "ref", None) == procedure.id]
    lines.append("calibrations left:" + ("" if left else " none"))
    lines += [f"  {c.quantity} = {c.value}{' ' + c.units if c.units else ''} (revision {c.id})" for c in left]
    return lines


def show_clearance(record, clearance_id: str) -> list[str]:
    """The clearance's story: its form, what it covers, its window and its review timeline."""
    c = record.get_clearance(clearance_id)
    lines = [f"clearance {c.id}: {c.title} ({c.form_type}, {c.status})",
             f"  covers runs {list(c.run_ids)}, subjects {list(c.subject_ids)}, assets {list(c.asset_ids)}",
             f"  hazards {list(c.hazards)}; valid {_when(c.valid_from)} .. {_when(c.valid_until)}", "timeline"]
    return lines + _timeline(record, "clearance", c.id)
