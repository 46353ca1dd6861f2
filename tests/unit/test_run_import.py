"""A historic run's ending, and the one append that imports it: never gated, never half written."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import NOW, PLAN

from cora_bluesky.domain import errors as e
from cora_bluesky.domain import run
from cora_bluesky.domain.documents import (
    FAILED_WITHOUT_MESSAGE,
    NO_STOP,
    Ending,
    at,
    historic_ending,
    read_run,
)
from cora_bluesky.domain.rules import REASON_LENGTH

STARTED = NOW.timestamp() - 86400.0
times = st.floats(min_value=STARTED - 10**6, max_value=STARTED + 10**6, allow_nan=False)
stops = st.none() | st.fixed_dictionaries(
    {"exit_status": st.sampled_from(["success", "abort", "fail"]) | st.text(max_size=5) | st.none()},
    optional={"reason": st.text(max_size=700) | st.none() | st.integers(),
              "time": times | st.none() | st.just(math.nan) | st.just("noon")},
)


@given(stop=stops, last=times)
def test_the_ending_follows_the_stop_document(stop, last):
    ending = historic_ending(stop, STARTED, last)
    assert ending.at >= at(STARTED)  # no run ends before it began
    if stop is None:
        assert (ending.status, ending.reason, ending.at) == ("Truncated", NO_STOP, at(max(STARTED, last)))
        return
    if stop["exit_status"] == "success":
        assert (ending.status, ending.reason) == ("Completed", None)
    else:
        assert ending.status == "Aborted"
        assert ending.reason and ending.reason == ending.reason.strip() and len(ending.reason) <= REASON_LENGTH
        said = stop.get("reason")
        if isinstance(said, str) and said.strip():
            assert ending.reason == said.strip()[:REASON_LENGTH]
        elif stop["exit_status"] == "fail":
            assert ending.reason == FAILED_WITHOUT_MESSAGE
    when = stop.get("time")
    if isinstance(when, float) and math.isfinite(when):
        assert ending.at == at(max(STARTED, when))
    else:
        assert ending.at == at(max(STARTED, last))


def _command(ending: Ending, readings: int = 0, **overrides) -> run.ImportRun:
    rows = tuple(run.Reading(f"e{n}", "ring_current", 100.0 + n, "baseline", at(STARTED + n)) for n in range(readings))
    fields = dict(run_id="r1", name="count scan 7", source="http://tiled/api/v1/metadata", start_uid="uid-7",
                  uri="http://tiled/api/v1/metadata/uid-7", started_at=at(STARTED), ending=ending,
                  bluesky_plan="count", scan_id=7, readings=rows, digest="a" * 64, documents=5)
    return run.ImportRun(**{**fields, **overrides})


def _fold(events) -> run.RunState:
    state = None
    for event in events:
        state = run.evolve(state, event)
    return state


def _context(plan=None) -> run.ImportContext:
    return run.ImportContext(NOW, plan, "logbook-1")


@given(stop=stops, last=times, readings=st.integers(0, 5), matched=st.booleans())
def test_an_import_is_one_decision_that_ends_as_its_documents_say(stop, last, readings, matched):
    ending = historic_ending(stop, STARTED, min(last, NOW.timestamp()))
    if ending.at > NOW:
        return
    plan = PLAN if matched else None
    events, rows = run.decide_import(_command(ending, readings, plan_id=plan and plan.id), None, _context(plan))
    kinds = [type(event) for event in events]
    assert kinds[0] is run.RunImported and run.RunStarted not in kinds  # no gate is pretended
    state = _fold(events)
    assert state.status == ending.status and state.clearance_ids == ()
    assert state.imported.source == "http://tiled/api/v1/metadata" and state.imported.imported_at == NOW
    assert (state.plan_id, state.method_id) == ((PLAN.id, PLAN.method_id) if matched else (None, None))
    assert len(rows) == readings and (state.reading_logbook_id is not None) == (readings > 0)
    assert state.datasets[0].digest == "a" * 64 and state.datasets[0].scan_id == 7
    if ending.status == "Truncated":
        assert state.interrupted_at == ending.at and state.last_reason == ending.reason
    else:
        assert state.updated_at == ending.at


def test_a_run_the_record_holds_is_not_imported_over():
    events, _ = run.decide_import(_command(Ending("Completed", at(STARTED + 5))), None, _context())
    with pytest.raises(e.RunAlreadyExistsError):
        run.decide_import(_command(Ending("Completed", at(STARTED + 5))), _fold(events), _context())


@pytest.mark.parametrize(
    "ending, overrides",
    [
        (Ending("Completed", at(STARTED - 1)), {}),  # ends before it began
        (Ending("Completed", NOW + timedelta(days=1)), {}),  # ends after now
        (Ending("Stopped", at(STARTED + 1)), {}),  # not an ending a catalog can tell
        (Ending("Completed", at(STARTED + 1)), {"source": "  "}),
        (Ending("Completed", at(STARTED + 1)), {"bluesky_plan": "x" * 201}),
        (Ending("Aborted", at(STARTED + 1), ""), {}),  # an abort with no reason
    ],
)
def test_an_import_out_of_order_or_out_of_bounds_is_refused_by_name(ending, overrides):
    with pytest.raises(e.InvalidRunImportError):
        run.decide_import(_command(ending, **overrides), None, _context())


def test_a_plan_named_but_not_matched_is_refused():
    with pytest.raises(e.PlanNotFoundError):
        run.decide_import(_command(Ending("Completed", at(STARTED + 1)), plan_id="p-unknown"), None, _context())


def test_reading_a_run_keeps_its_readings_once_and_knows_its_last_moment():
    descriptor = {"uid": "d1", "name": "baseline", "time": STARTED,
                  "data_keys": {"ring": {"units": " "}, "mode": {"units": "mA"}}}
    event = {"descriptor": "d1", "seq_num": 1, "time": STARTED + 2,
             "data": {"ring": 100.0, "mode": "top-up"}, "timestamps": {"ring": STARTED + 1, "mode": STARTED + 1}}
    page = {"descriptor": "d1", "seq_num": [1], "time": [STARTED + 2], "data": {"ring": [100.0], "mode": ["top-up"]},
            "timestamps": {"ring": [STARTED + 1], "mode": [STARTED + 1]}}
    historic = read_run([("start", {"uid": "u", "time": STARTED}), ("descriptor", descriptor),
                         ("event", event), ("event_page", page)])
    (reading,) = historic.readings  # the page re-emits the event: one reading, as the recorder keeps it
    assert reading["units"] is None and reading["sampled_at"] == at(STARTED + 1)
    assert historic.rejected == 2 and historic.last == STARTED + 2 and historic.stop is None
    with pytest.raises(ValueError):
        read_run([("descriptor", descriptor)])
