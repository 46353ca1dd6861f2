"""Plans found as profiles name them: the plan the user called first, then the start document's plan_name."""

from __future__ import annotations

import bluesky.plans as bp
import pytest
from bluesky import RunEngine
from ophyd.sim import SynAxis, SynGauss
from support import activate_clearance

import cora_bluesky
from cora_bluesky.domain import errors as e


@pytest.fixture
def session(beamline):
    record, ids = beamline
    activate_clearance(record, subject_ids=[ids.subject])
    RE = RunEngine({}, call_returns_result=False)
    cora_bluesky.install(RE, record, principal="jdoe")
    rot = SynAxis(name="rot")
    cam = SynGauss("cam", rot, "rot", center=0, Imax=1)
    starts: list[dict] = []
    RE.subscribe(lambda name, doc: starts.append(doc), "start")
    yield RE, record, ids, rot, cam, starts
    if RE.state != "idle":
        RE.abort("test teardown")


def test_a_profile_plan_wrapping_count_is_recorded_under_its_own_name(session):
    RE, record, ids, rot, cam, starts = session

    def tomo_scan():
        """A profile plan: the start document's plan_name is 'count'."""
        yield from bp.count([cam, rot])

    RE(tomo_scan(), subject_id=ids.subject)
    (start,) = starts
    assert start["plan_name"] == "count"
    run = record.get_run(start["cora_run_id"])
    assert (run.name, run.plan_id) == ("tomo_scan", ids.plan)


def test_one_plan_answers_to_many_bluesky_names_and_patterns(session):
    RE, record, ids, rot, cam, starts = session
    steps = record.register_plan(name="step_scans", method_id=ids.method,
                                 default_parameters={"exposure": 0.1, "angles": 2},
                                 bluesky_names=["scan", "rel_scan", "*grid_scan"])
    RE(bp.scan([cam], rot, -1, 1, 2), subject_id=ids.subject)
    RE(bp.rel_scan([cam], rot, -1, 1, 2), subject_id=ids.subject)
    RE(bp.rel_grid_scan([cam], rot, -1, 1, 2), subject_id=ids.subject)
    assert len(starts) == 3
    recorded = [record.get_run(start["cora_run_id"]) for start in starts]
    assert [(run.name, run.plan_id) for run in recorded] == [
        ("scan", steps.id), ("rel_scan", steps.id), ("rel_grid_scan", steps.id)]


def test_an_unknown_plan_is_refused_naming_every_fix(session):
    RE, record, ids, rot, cam, starts = session

    def survey():
        yield from bp.list_scan([cam], rot, [0, 1])

    with pytest.raises(e.PlanNotFoundError) as refused:
        RE(survey(), subject_id=ids.subject)
    message = refused.value.message
    assert refused.value.data["names"] == ["survey", "list_scan"]
    for fix in ("'survey' (the plan called)", "'list_scan' (the start document plan_name)", "[[plans]] entry",
                "cora model apply", "bluesky_names", "register_plan", "cora_plan_id"):
        assert fix in message
    assert starts == [] and record.list_runs().items == []
