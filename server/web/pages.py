"""The routes of the web view: sign-in, runs, a run, procedures, calibrations and the gate board."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from cora_bluesky.application.slices import BY_TOOL
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import Duty
from cora_bluesky.server.auth import authorized
from cora_bluesky.server.dispatch import perform
from cora_bluesky.server.errors import status_of
from cora_bluesky.server.web import plots, stories
from cora_bluesky.server.web.session import (
    COOKIE,
    PREFIX,
    SignInRequired,
    Viewer,
    safe_next,
    signed_in,
    to_sign_in,
    viewer,
)

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(time_plot=plots.time_plot, timeline_bar=plots.timeline_bar, span_text=stories.span_text,
                             prefix=PREFIX)
templates.env.filters["when"] = lambda moment: moment.isoformat(sep=" ", timespec="seconds") if moment else "-"

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _page(request: Request, template: str, build: Callable[[Viewer], Mapping[str, Any]]) -> Response:
    """Render ``template`` for the signed-in viewer; a refusal of the record is shown as a page."""
    try:
        who = viewer(request)
    except SignInRequired:
        return to_sign_in(request)
    try:
        context, status = build(who), 200
    except e.CoraError as refusal:
        template, context, status = "refused.html", {"refusal": refusal}, status_of(refusal)
    return templates.TemplateResponse(request, template, {"viewer": who, **context}, status_code=status)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/runs", status_code=303)


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The view's own stylesheet; nothing here is fetched from another host."""
    files = {path.name: path for path in STATIC.iterdir() if path.is_file()}
    if name not in files:
        return Response(status_code=404)
    return FileResponse(files[name], headers={"Cache-Control": "max-age=3600"})


@router.get("/sign-in")
def sign_in_form(request: Request, next: str | None = None) -> HTMLResponse:
    return templates.TemplateResponse(request, "sign_in.html", {"next": safe_next(next), "viewer": None})


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (each taken once); the body guard already bounds its size."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the token as every request will, then keep it in an HttpOnly cookie."""
    form = await _form(request)
    secret, next_page = form.get("token", "").strip(), safe_next(form.get("next"))
    try:
        authorized(request.app.state.record, secret, Duty.READ)
    except (e.UnauthorizedError, e.ForbiddenError) as refusal:
        context = {"next": next_page, "viewer": None, "refusal": refusal}
        return templates.TemplateResponse(request, "sign_in.html", context, status_code=status_of(refusal))
    return signed_in(request, secret, next_page)


@router.post("/sign-out")
def sign_out() -> RedirectResponse:
    answer = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    answer.delete_cookie(COOKIE, path=PREFIX)
    return answer


def _day(text: str | None, *, end: bool = False) -> datetime | None:
    """A date field as the start of that UTC day (``end``: of the next day, for "up to and including")."""
    if not text:
        return None
    try:
        day = datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(), timezone.utc)
    except ValueError:
        raise e.InvalidListQueryError(f"{text!r} is not a date like 2024-06-01") from None
    return day + timedelta(days=1) if end else day


def _scan(text: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise e.InvalidListQueryError(f"{text!r} is not a scan id (a whole number from 0)")
    return int(text)


@router.get("/runs")
def runs(request: Request, status: str = "", plan: str = "", sample: str = "", since: str = "",
         until: str = "", scan: str = "", cursor: str | None = None) -> Response:
    def build(who: Viewer) -> Mapping[str, Any]:
        record = who.record
        filters = {"status": status or None, "plan_id": plan or None, "subject_id": sample or None,
                   "created_from": _day(since), "created_before": _day(until, end=True), "scan_id": _scan(scan)}
        page = record.list_runs(limit=50, cursor=cursor or None, **filters)
        plans = sorted(stories.every(record.list_plans), key=lambda found: found.name)
        samples = sorted(stories.every(record.list_subjects), key=lambda found: found.name)
        chosen = {"status": status, "plan": plan, "sample": sample, "since": since, "until": until, "scan": scan}
        more = f"?{urlencode({**chosen, 'cursor': page.next})}" if page.next else None
        return {"rows": stories.run_rows(record, page.items), "more": more, "chosen": chosen,
                "plans": {found.id: found.name for found in plans},
                "samples": {found.id: found.name for found in samples},
                "statuses": ("Running", "Held", "Completed", "Stopped", "Aborted", "Truncated")}

    return _page(request, "runs.html", build)


@router.get("/runs/{run_id}")
def run(request: Request, run_id: str) -> Response:
    return _page(request, "run.html", lambda who: {"story": stories.run_story(who.record, run_id)})


@router.get("/procedures")
def procedures(request: Request) -> Response:
    def build(who: Viewer) -> Mapping[str, Any]:
        return {"procedures": who.record.list_procedures(limit=200).items,
                "series": stories.calibration_series(who.record)}

    return _page(request, "procedures.html", build)


@router.get("/procedures/{procedure_id}")
def procedure(request: Request, procedure_id: str) -> Response:
    def build(who: Viewer) -> Mapping[str, Any]:
        record = who.record
        found = record.get_procedure(procedure_id)
        moments = record.timeline("procedure", found.id)
        lines = [stories.Line(m.at, m.event, m.actor, said) for m in moments
                 if (said := stories.describe(m.event, m.details)) is not None]
        left = [revision for asset in found.target_asset_ids for revision in record.list_calibrations(asset)
                if revision.source.kind == "procedure" and revision.source.ref == found.id]
        return {"procedure": found, "lines": lines, "steps": record.list_procedure_steps(found.id),
                "targets": stories.names(record, found.target_asset_ids, "get_asset"), "left": left}

    return _page(request, "procedure.html", build)


@router.get("/calibrations")
def calibrations(request: Request) -> Response:
    return _page(request, "calibrations.html", lambda who: {"series": stories.calibration_series(who.record)})


def _board(who: Viewer, done: str | None = None, refusal: e.CoraError | None = None) -> dict[str, Any]:
    record = who.record
    hutches = sorted(stories.every(record.list_enclosures), key=lambda hutch: hutch.name)
    permits = stories.read_permits(record, hutches)
    clearances = stories.every(record.list_clearances)
    shown = [{"clearance": found,
              "subjects": stories.names(record, found.subject_ids, "get_subject"),
              "assets": stories.names(record, found.asset_ids, "get_asset"),
              "runs": stories.names(record, found.run_ids, "get_run"),
              "transitions": stories.transitions(found, who.may)} for found in clearances]
    return {"hutches": [(hutch, permits.get(hutch.id)) for hutch in hutches], "clearances": shown,
            "queue": [item for item in shown if item["transitions"]] if who.may(Duty.REVIEW) else None,
            "done": done, "refusal": refusal, "read_at": record.now()}


@router.get("/gates")
def gates(request: Request, done: str | None = None) -> Response:
    return _page(request, "gates.html", lambda who: _board(who, done))


def _same_origin(request: Request) -> bool:
    """A form post from a page of this server; the SameSite=Strict cookie already keeps others out."""
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


@router.post("/gates/clearances/{clearance_id}/{tool}")
async def review(request: Request, clearance_id: str, tool: str) -> Response:
    """Perform a clearance's slice (approve, reject, ...) for the viewer, as ``POST /clearances/...`` does.

    The row of the slice table decides everything: its duty (checked with the viewer's token,
    as the REST route checks it), its body model and the record method it calls.
    """
    try:
        who = viewer(request)
    except SignInRequired:
        return to_sign_in(request)
    form = await _form(request)
    row = BY_TOOL.get(tool)
    try:
        if not _same_origin(request):
            raise e.ForbiddenError("a review is posted from the gate board of this server")
        if row is None or row.aggregate.kind != "clearance" or row.path_params != ("clearance_id",):
            raise e.NotFoundError(f"no clearance transition {tool!r}")
        bound = who.acting(row.duty)  # a viewer is refused here, whatever the page showed them
        body = None
        if row.request is not None:
            try:
                body = row.request(**{name: form[name] for name in row.request.model_fields if form.get(name)})
            except ValidationError as invalid:
                raise e.InvalidInputError("; ".join(
                    f"{error['loc'][0]}: {error['msg']}" for error in invalid.errors())) from None
        arguments = {"clearance_id": clearance_id, **(body.model_dump() if body is not None else {})}
        perform(bound, row, arguments, keyed=None, called=("POST", request.url.path), body=body)
    except e.CoraError as refusal:
        context = {"viewer": who, **_board(who, refusal=refusal)}
        return templates.TemplateResponse(request, "gates.html", context, status_code=status_of(refusal))
    done = f"{row.doc} ({clearance_id})"
    return RedirectResponse(f"{PREFIX}/gates?{urlencode({'done': done})}", status_code=303)
