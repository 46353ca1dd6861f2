"""The web view in headless Chromium, over a record of a real session at the simulated 2-BM.

The session is ``cora demo`` (a RunEngine, the beamline profile, a simulated PSS IOC): a held
and steered tomography scan, reference runs, an alignment procedure and its calibration, and a
truncated scan. ``cora serve`` then serves it on a free loopback port, with fixed permits
(2-BM-A permitted, 2-BM-B not), and the pages are loaded as a person would load them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from browser import CHROMIUM_ARGS, chromium, png_pixels

import cora_bluesky
from cora_bluesky.sim.loopback import free_port

REPO = Path(__file__).resolve().parents[2]
STEER_REASON = "more exposure to recover signal after the refill"
#: the readings plot's line colour (server/web/static/view.css: svg .series)
SERIES_RGB = (31, 95, 153)
#: a page, with everything it loads, stays under this many bytes
PAGE_BUDGET = 100_000


def _own_epics() -> dict[str, str]:
    """The demo pins Channel Access to loopback itself, on ports the tests' IOC is not using."""
    return {key: value for key, value in os.environ.items() if not key.startswith("EPICS_")}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """The demo's record, a safety form waiting for review, and a viewer's and a safety officer's tokens."""
    folder = tmp_path_factory.mktemp("web-view")
    uri = f"sqlite:///{folder / 'record.db'}"
    told = subprocess.run(
        [sys.executable, "-m", "cora_bluesky.cli", "demo", "--uri", uri, "--profile", str(REPO / "profile_collection")],
        capture_output=True, text=True, timeout=180, cwd=folder, env=_own_epics(),
    )
    assert told.returncode == 0, told.stderr[-3000:]
    # the demo's session principal (the login name) administers the record and runs scans
    with cora_bluesky.connect(uri) as record:
        for role in ("viewer", "safety"):
            record.register_principal(principal_id=f"{role}-1", roles=[role])
        runs = record.list_runs(limit=500).items
        (held,) = [run for run in runs if run.hold_count]
        sample = record.get_subject(held.subject_id)
        pending = record.register_clearance(form_type="aps-esaf", title="ESAF 314159: in situ cycling",
                                            subject_ids=[sample.id], hazards=["electrical"])
        record.submit_clearance(pending.id)
        tokens = {role: record.issue_token(principal=f"{role}-1", role=role)[1] for role in ("viewer", "safety")}
        ring = [r for r in record.list_run_readings(held.id) if r["channel_name"] == "ring_current"]
        (center,) = [record.get_calibration(pinned) for pinned in held.pinned_calibrations]
        drifted = record.record_calibration(  # the axis drifted; a scientist measured it by hand
            asset_id=center.asset_id, quantity=center.quantity, value=center.value + 0.8, units=center.units,
            source=cora_bluesky.CalibrationSource.asserted("scientist-1"))
        procedures = record.list_procedures().items
    return SimpleNamespace(uri=uri, folder=folder, runs=runs, held=held, pending=pending, tokens=tokens,
                           ring=ring, procedures=procedures, calibrations=(center, drifted))


@pytest.fixture(scope="module")
def server(session):
    """``cora serve`` on a free 127.0.0.1 port, ready when ``/health`` answers; ended by its PID."""
    port = free_port()
    log = open(session.folder / "serve.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "cora_bluesky.cli", "serve", "--uri", session.uri, "--host", "127.0.0.1",
         "--port", str(port), "--permit", "2-BM-A=1", "--permit", "2-BM-B=0"],
        stdout=log, stderr=subprocess.STDOUT, env=_own_epics(),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("cora serve did not answer /health within 60 s")
            try:  # waits for the next attempt, and notices a server that died
                process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            log.seek(0)
            raise AssertionError(f"cora serve exited with {process.returncode}: {log.read()[-3000:]}")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    path = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Visit:
    """One person's browser context, signed in with their token, recording every request it makes."""

    def __init__(self, browser, base: str, token: str | None) -> None:
        self.base = base
        self.context = browser.new_context(base_url=base)
        self.requests: list = []
        self.context.on("request", lambda request: self.requests.append(request))
        self.page = self.context.new_page()
        if token is not None:
            self.page.goto("/view/")
            assert urlsplit(self.page.url).path == "/view/sign-in"
            self.page.fill("input[name=token]", token)
            self.page.click("form.sign-in button")
            assert urlsplit(self.page.url).path == "/view/runs", self.page.content()[:2000]

    def open(self, path: str) -> int:
        answer = self.page.goto(path)
        return answer.status

    def weight(self, path: str) -> int:
        """Bytes transferred (headers and bodies) for ``path`` and everything it loads, cache cold."""
        first = len(self.requests)
        assert self.open(path) == 200
        self.page.wait_for_load_state("load")
        loaded = self.requests[first:]
        assert loaded, f"{path} made no request"
        total = 0
        for request in loaded:
            sizes = request.sizes()
            total += sizes["requestHeadersSize"] + sizes["requestBodySize"]
            total += sizes["responseHeadersSize"] + sizes["responseBodySize"]
        return total

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def viewer(browser, server, session):
    visit = Visit(browser, server, session.tokens["viewer"])
    yield visit
    visit.close()


@pytest.fixture
def safety(browser, server, session):
    visit = Visit(browser, server, session.tokens["safety"])
    yield visit
    visit.close()


def test_every_page_loads_from_this_server_alone(viewer, session):
    pages = ["/view/runs", "/view/procedures", "/view/calibrations", "/view/gates"]
    pages += [f"/view/runs/{run.id}" for run in session.runs]
    pages += [f"/view/procedures/{procedure.id}" for procedure in session.procedures]
    loaded = []
    for path in pages:
        assert viewer.open(path) == 200, path
        assert viewer.page.locator("main h1").count() == 1, path
        loaded.append(urlsplit(viewer.page.url).path)
    assert loaded == pages and len(pages) == 4 + 4 + 1  # four runs and one procedure in the demo
    urls = [request.url for request in viewer.requests]
    assert any(url.endswith("/view/static/view.css") for url in urls)
    assert len(urls) > len(pages)
    assert {urlsplit(url).hostname for url in urls} == {"127.0.0.1"}, sorted(set(urls))


def test_the_runs_page_lists_each_run_with_its_holds_and_steers(viewer, session):
    assert viewer.open("/view/runs") == 200
    rows = viewer.page.locator("tr.run")
    assert rows.count() == len(session.runs) == 4
    held = viewer.page.locator(f'tr.run[data-run="{session.held.id}"]')
    assert held.locator("td.holds").inner_text() == "1" and held.locator("td.steers").inner_text() == "1"
    scan = held.locator("td.scan").inner_text()
    assert scan == str(session.held.datasets[0].scan_id)
    viewer.page.fill("input[name=scan]", scan)
    viewer.page.click("form.filters button")
    assert [row.get_attribute("data-run") for row in viewer.page.locator("tr.run").all()] == [session.held.id]
    viewer.page.fill("input[name=scan]", "")
    viewer.page.select_option("select[name=status]", "Truncated")
    viewer.page.click("form.filters button")
    assert viewer.page.locator("tr.run").count() == 1
    assert "Truncated" in viewer.page.locator("tr.run .status").inner_text()


def test_the_held_runs_timeline_shows_the_hold_and_the_steer_with_its_reason(viewer, session):
    assert viewer.open(f"/view/runs/{session.held.id}") == 200
    timeline = viewer.page.locator("#timeline")
    held = timeline.locator("svg.timeline rect.segment.held")
    assert held.count() == 1
    assert held.bounding_box()["width"] > 0 and held.locator("title").text_content().startswith("held for")
    assert timeline.locator("svg.timeline rect.segment.running").count() == 2  # before and after the hold
    steers = timeline.locator("li.steer")
    assert steers.count() == 1
    assert steers.locator("q.reason").inner_text() == STEER_REASON
    assert steers.locator("code.patch").inner_text() == '{"exposure_time_ms": 75}'
    assert timeline.locator("svg.timeline g.mark.steer").count() == 1
    assert "Completed" in timeline.locator("p.ending").inner_text()
    changed = viewer.page.locator("#parameters tr.changed td")
    assert changed.all_inner_texts() == ["exposure_time_ms", "50", "75"]
    assert viewer.page.locator("#calibrations p.calibration").count() == 1
    assert "in force when the run started" in viewer.page.locator("#clearances p.clearance").first.inner_text()
    assert viewer.page.locator("#data a").get_attribute("href") == session.held.datasets[0].uri


def test_the_readings_plot_has_drawn_the_ring_current_through_the_dump(viewer, session):
    assert viewer.open(f"/view/runs/{session.held.id}") == 200
    plot = viewer.page.locator('figure[data-channel="ring_current"] svg')
    line = plot.locator("polyline.series")
    assert line.evaluate("el => el.points.numberOfItems") == len(session.ring) >= 3
    assert line.evaluate("el => el.getTotalLength()") > 0
    values = sorted({reading["value"] for reading in session.ring})
    assert values[0] == 0.0 and values[-1] > 100  # the dump and the beam back
    box = line.bounding_box()
    assert box["width"] > 50 and box["height"] > 50  # a drop to zero spans the plot's height
    assert plot.locator("rect.held").count() == 1  # the hold is shaded behind the readings
    pixels = png_pixels(plot.screenshot())[..., :3].astype(int)
    drawn = (np.abs(pixels - SERIES_RGB).sum(axis=-1) < 60).sum()
    assert drawn > 100, f"only {drawn} pixels of the readings' colour were painted"


def test_the_calibration_history_links_each_revision_to_its_source(viewer, session):
    center, drifted = session.calibrations
    assert viewer.open("/view/calibrations") == 200
    figure = viewer.page.locator(f'figure[data-quantity="{center.quantity}"]')
    assert figure.locator("svg circle.mark").count() == 2
    assert figure.locator("svg polyline.series").evaluate("el => el.points.numberOfItems") == 2
    (linked,) = figure.locator("svg a").all()  # the procedure's revision; a person's is named, not linked
    assert linked.get_attribute("href") == f"/view/procedures/{center.source.ref}"
    rows = figure.locator("tr.revision").all_inner_texts()
    assert "procedure find rotation center" in rows[0] and "scientist-1" in rows[1] and "(in force)" in rows[1]
    linked.click()
    viewer.page.wait_for_url(f"**/view/procedures/{center.source.ref}")
    assert viewer.page.locator("tr.step").count() == 3


def test_a_viewer_sees_no_review_controls(viewer, session):
    assert viewer.open("/view/gates") == 200
    page = viewer.page
    assert page.locator("#review-queue").count() == 0 and page.locator("form.review").count() == 0
    hutches = {item.get_attribute("data-hutch"): item.get_attribute("class") for item in page.locator("li.hutch").all()}
    assert hutches == {"2-BM-A": "hutch permitted", "2-BM-B": "hutch refused"}
    assert page.locator(f"#clearance-{session.pending.id} .status").inner_text() == "Submitted"


def test_a_safety_officer_reviews_from_the_board(safety, session):
    assert safety.open("/view/gates") == 200
    page = safety.page
    item = page.locator(f'#review-queue .review-item[data-clearance="{session.pending.id}"]')
    offered = sorted(button.get_attribute("value") for button in item.locator("form.review button").all())
    assert offered == ["reject_clearance", "start_clearance_review", "supersede_clearance"]
    item.locator("button[value=start_clearance_review]").click()
    page.wait_for_url("**/view/gates?done=*")
    assert "UnderReview" in page.locator("p.done").inner_text()
    item = page.locator(f'#review-queue .review-item[data-clearance="{session.pending.id}"]')
    assert item.locator("button[value=approve_clearance]").count() == 1
    with cora_bluesky.connect(session.uri) as record:
        reviewed = record.get_clearance(session.pending.id)
        assert reviewed.status == "UnderReview"
        assert record.timeline("clearance", reviewed.id)[-1].actor == "safety-1"
    assert {urlsplit(request.url).hostname for request in safety.requests} == {"127.0.0.1"}


def test_the_token_cookie_is_http_only_and_strict(viewer):
    (cookie,) = viewer.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/view"


def test_a_bad_token_does_not_sign_in(browser, server):
    visit = Visit(browser, server, None)
    try:
        assert visit.open("/view/runs") == 200 and urlsplit(visit.page.url).path == "/view/sign-in"
        visit.page.fill("input[name=token]", "cora_not-a-token")
        visit.page.click("form.sign-in button")
        assert "Unauthorized" in visit.page.locator("p.refusal").inner_text()
        assert visit.context.cookies() == []
    finally:
        visit.close()


def test_page_weights(browser, server, session, record_property):
    """Bytes transferred for the runs page and the held run's page, each in a fresh browser (cold cache)."""
    weights = {}
    for name, path in (("runs", "/view/runs"), ("run", f"/view/runs/{session.held.id}")):
        visit = Visit(browser, server, None)
        try:  # the cookie a sign-in would set, so that nothing is cached before the page is weighed
            visit.context.add_cookies([{"name": "cora_view_token", "value": session.tokens["viewer"],
                                        "url": f"{server}/view/", "httpOnly": True, "sameSite": "Strict"}])
            weights[name] = visit.weight(path)
            assert visit.page.locator("main h1").count() == 1
        finally:
            visit.close()
    record_property("page_weights", weights)
    print(f"\npage weights (bytes transferred, cold cache): {weights}")
    assert all(0 < weight < PAGE_BUDGET for weight in weights.values()), weights
