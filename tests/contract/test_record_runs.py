"""Run slices through the Record on every store: guards, lifecycle, readings, queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import SAFETY_OFFICER, activate_clearance, build_beamline

from cora_bluesky import CalibrationSource
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.run import RunStatus


@pytest.fixture
def ids(record):
    return build_beamline(record)


def start(record, ids, **overrides):
    fields = dict(name="tomography of sn-2024-038", plan_id=ids.plan, subject_id=ids.subject)
    fields.update(overrides)
    return record.start_run(**fields)


def event_count(record, kind, ident):
    return len(record.history(kind, ident))


def test_start_run_returns_id_and_effective_parameters(record, ids):
    run = start(record, ids, override_parameters={"exposure": 0.05}, triggered_by="operator:42",
                external_refs=[("proposal", "271828")], raid="https://raid.org/10.1/x", campaign_id="camp-1")
    assert run.status is RunStatus.RUNNING
    assert run.effective_parameters == {"exposure": 0.05, "angles": 180}
    got = record.get_run(run.id)
    assert got == run
    assert got.asset_ids == (ids.stage, ids.camera)
    assert got.external_refs[0].scheme == "proposal" and got.campaign_id == "camp-1"


def test_refused_start_writes_nothing(record, ids, permits):
    permits.set("2-BM-B", False)
    with pytest.raises(e.RunRequiresPermittedEnclosureError) as refused:
        start(record, ids, run_id="fixed-run")
    assert refused.value.data["hutches"] == ["2-BM-B"]
    assert event_count(record, "run", "fixed-run") == 0
    assert record.list_runs().items == []
    with pytest.raises(e.RunNotFoundError):
        record.get_run("fixed-run")


def test_clearance_refusals_are_distinct(record):
    ids = build_beamline(record, activate=False)
    with pytest.raises(e.RunRequiresActiveClearanceError):
        start(record, ids)
    form = record.register_clearance(form_type="nsls2-saf", title="SAF 1", subject_ids=[ids.subject])
    record.submit_clearance(form.id)
    with pytest.raises(e.RunClearanceCoverageMismatchError) as refused:
        start(record, ids)
    assert refused.value.data["count"] == 1
    officer = record.bound(principal=SAFETY_OFFICER)
    officer.start_clearance_review(form.id)
    officer.approve_clearance(form.id)
    with pytest.raises(e.RunClearanceCoverageMismatchError):
        start(record, ids)  # Approved is not in force
    officer.activate_clearance(form.id)
    assert start(record, ids).status is RunStatus.RUNNING


def test_clearance_that_expires_stops_covering(record, clock):
    ids = build_beamline(record, activate=False)
    form = record.register_clearance(
        form_type="aps-esaf", title="ESAF", asset_ids=[ids.stage], valid_until=clock.current + timedelta(hours=1)
    )
    officer = record.bound(principal=SAFETY_OFFICER)
    record.submit_clearance(form.id)
    for step in (officer.start_clearance_review, officer.approve_clearance, officer.activate_clearance):
        step(form.id)
    assert start(record, ids, subject_id=None)
    clock.advance(hours=2)
    with pytest.raises(e.RunClearanceCoverageMismatchError):
        start(record, ids, subject_id=None)
    officer.expire_clearance(form.id)
    with pytest.raises(e.RunClearanceCoverageMismatchError):
        start(record, ids, subject_id=None)


def test_a_clearance_bound_to_the_run_id_covers_it(record):
    ids = build_beamline(record, activate=False)
    activate_clearance(record, run_ids=["planned-run-7"])
    assert start(record, ids, run_id="planned-run-7").id == "planned-run-7"
    with pytest.raises(e.RunAlreadyExistsError):
        start(record, ids, run_id="planned-run-7")


def test_enclosure_outcomes(record, ids, permits):
    # the mono sits in 2-BM-A, the plan's stage and camera in 2-BM-B through their table
    activate_clearance(record, asset_ids=[ids.mono])
    permits.set("2-BM-A", True)
    permits.set("2-BM-B", False)
    with pytest.raises(e.RunEnclosureCoverageMismatchError) as mismatch:
        start(record, ids, asset_ids=[ids.mono])
    assert mismatch.value.data["hutches"] == ["2-BM-B"] and mismatch.value.data["permitted"] == ["2-BM-A"]
    permits.set("2-BM-A", False)
    with pytest.raises(e.RunRequiresPermittedEnclosureError) as blocked:
        start(record, ids, asset_ids=[ids.mono])
    assert sorted(blocked.value.data["hutches"]) == ["2-BM-A", "2-BM-B"]
    permits.set("2-BM-B", True)
    assert start(record, ids).status is RunStatus.RUNNING  # A is not in this run's scope


def test_no_permit_source_fails_closed(record, ids):
    with pytest.raises(e.RunRequiresPermittedEnclosureError) as refused:
        start(record.bound(permits=None), ids)
    assert "no permit source" in refused.value.message


def test_other_start_guards(record, ids):
    with pytest.raises(e.PlanNotFoundError):
        start(record, ids, plan_id="nope")
    with pytest.raises(e.InvalidRunParametersError):
        start(record, ids, override_parameters={"exposure": 100})
    record.unmount_subject(ids.subject)
    with pytest.raises(e.SubjectNotMountableError):
        start(record, ids)
    record.mount_subject(ids.subject)
    record.decommission_asset(ids.camera)
    with pytest.raises(e.RunAssetDecommissionedError):
        start(record, ids)
    record.deprecate_plan(ids.plan)
    with pytest.raises(e.PlanDeprecatedError):
        start(record, ids)


def test_capabilities_checked_against_current_assets(record, ids):
    method = record.register_method(name="xanes", needed_families=["mono", "ion_chamber"])
    plan = record.register_plan(name="xanes_scan", method_id=method.id, asset_ids=[ids.mono])
    activate_clearance(record, asset_ids=[ids.mono])
    with pytest.raises(e.RunCapabilitiesNotSatisfiedError) as refused:
        record.start_run(name="x", plan_id=plan.id)
    assert refused.value.data["missing_families"] == ["ion_chamber"]


def test_as_shot_pins_are_frozen(record, ids):
    old = record.record_calibration(asset_id=ids.stage, quantity="rotation_center", value=1.0, units="px",
                                    source=CalibrationSource.asserted("staff"))
    new = record.record_calibration(asset_id=ids.stage, quantity="rotation_center", value=1.5, units="px",
                                    source=CalibrationSource.asserted("staff"))
    run = start(record, ids)
    assert run.pinned_calibrations == (new.id,)
    record.record_calibration(asset_id=ids.stage, quantity="rotation_center", value=2.0,
                              source=CalibrationSource.asserted("staff"))
    record.hold_run(run.id)
    record.adjust_run(run.id, parameter_patch={"exposure": 0.2}, reason="drift")
    assert record.get_run(run.id).pinned_calibrations == (new.id,)
    explicit = start(record, ids, pinned_calibrations=[old.id])
    assert explicit.pinned_calibrations == (old.id,)
    with pytest.raises(e.InvalidPinnedCalibrationsError):
        start(record, ids, pinned_calibrations=["unknown"])


def test_lifecycle_with_reasons_and_strict_terminals(record, ids, clock):
    run = start(record, ids)
    record.hold_run(run.id)
    with pytest.raises(e.RunCannotHoldError):
        record.hold_run(run.id)
    with pytest.raises(e.RunCannotCompleteError):
        record.complete_run(run.id)
    record.resume_run(run.id)
    with pytest.raises(e.RunCannotResumeError):
        record.resume_run(run.id)
    adjusted = record.adjust_run(run.id, parameter_patch={"exposure": 0.075}, reason=" detector drift ",
                                 decided_by_decision_id="decision-1")
    assert adjusted.adjustment_count == 1 and adjusted.effective_parameters["exposure"] == 0.075
    with pytest.raises(e.InvalidRunAdjustSchemaError):
        record.adjust_run(run.id, parameter_patch={"exposure": -1}, reason="x")
    with pytest.raises(e.InvalidRunAdjustReasonError):
        record.adjust_run(run.id, parameter_patch={"exposure": 1}, reason=" ")
    with pytest.raises(e.InvalidRunAdjustPatchError):
        record.adjust_run(run.id, parameter_patch={}, reason="x")
    done = record.complete_run(run.id)
    assert done.status is RunStatus.COMPLETED
    for verb, error in [
        (lambda: record.complete_run(run.id), e.RunCannotCompleteError),
        (lambda: record.abort_run(run.id, reason="x"), e.RunCannotAbortError),
        (lambda: record.stop_run(run.id, reason="x"), e.RunCannotStopError),
        (lambda: record.truncate_run(run.id, reason="x"), e.RunCannotTruncateError),
        (lambda: record.adjust_run(run.id, parameter_patch={"exposure": 1}, reason="x"), e.RunCannotAdjustError),
        (lambda: record.hold_run(run.id), e.RunCannotHoldError),
    ]:
        before = event_count(record, "run", run.id)
        with pytest.raises(error):
            verb()
        assert event_count(record, "run", run.id) == before


@pytest.mark.parametrize(
    "verb, status, error",
    [("abort_run", RunStatus.ABORTED, e.InvalidRunAbortReasonError),
     ("stop_run", RunStatus.STOPPED, e.InvalidRunStopReasonError),
     ("truncate_run", RunStatus.TRUNCATED, e.InvalidRunTruncateReasonError)],
)
def test_exits(record, ids, verb, status, error):
    run = start(record, ids)
    with pytest.raises(error):
        getattr(record, verb)(run.id, reason="")
    ended = getattr(record, verb)(run.id, reason="  beam lost  ")
    assert ended.status is status and ended.last_reason == "beam lost"


def test_truncate_with_interrupted_at(record, ids, clock):
    run = start(record, ids)
    clock.advance(hours=48)
    with pytest.raises(e.InvalidRunInterruptedAtError):
        record.truncate_run(run.id, reason="weekend power cut", interrupted_at=clock.current + timedelta(hours=1))
    with pytest.raises(e.InvalidRunInterruptedAtError):
        record.truncate_run(run.id, reason="weekend power cut", interrupted_at=run.created_at - timedelta(seconds=1))
    guess = run.created_at + timedelta(hours=3)
    ended = record.truncate_run(run.id, reason="weekend power cut", interrupted_at=guess)
    assert ended.interrupted_at == guess and ended.updated_at > guess


def test_unknown_run_ids(record):
    for verb in (record.hold_run, record.resume_run, record.complete_run, record.get_run):
        with pytest.raises(e.RunNotFoundError):
            verb("nope")
    with pytest.raises(e.RunNotFoundError):
        record.append_run_reading("nope", channel_name="x", value=1, sampling_procedure="baseline",
                                  sampled_at=record.now())


def test_readings_logbook(record, ids, clock):
    run = start(record, ids)
    sampled = clock.current
    written = record.append_run_readings(run.id, [
        {"event_id": "e1", "channel_name": "ring_current", "value": 102.3, "units": "mA",
         "sampling_procedure": "baseline", "sampled_at": sampled},
        {"event_id": "e2", "channel_name": "sample_temp", "value": 295, "sampling_procedure": "monitor",
         "sampled_at": sampled + timedelta(milliseconds=5)},
    ])
    assert written == 2
    opened = record.get_run(run.id).reading_logbook_id
    assert opened is not None
    assert record.append_run_readings(run.id, [{"event_id": "e2", "channel_name": "sample_temp", "value": 295,
                                                 "sampling_procedure": "monitor", "sampled_at": sampled}]) == 0
    assert record.get_run(run.id).reading_logbook_id == opened  # opened once
    rows = record.list_run_readings(run.id)
    assert [(r["channel_name"], r["value"], r["units"]) for r in rows] == [("ring_current", 102.3, "mA"), ("sample_temp", 295.0, None)]
    assert rows[0]["sampled_at"] == sampled and rows[0]["occurred_at"] >= sampled and rows[0]["recorded_at"]
    assert {r["logbook_id"] for r in rows} == {opened} and rows[0]["actor_id"] == "tester"
    for bad, error in [
        ({"value": float("nan")}, e.InvalidReadingValueError),
        ({"value": float("inf")}, e.InvalidReadingValueError),
        ({"value": "12"}, e.InvalidReadingValueError),
        ({"channel_name": " "}, e.InvalidChannelNameError),
        ({"channel_name": "c" * 256}, e.InvalidChannelNameError),
        ({"sampling_procedure": "hourly"}, e.InvalidSamplingProcedureError),
        ({"units": "u" * 65}, e.InvalidReadingUnitsError),
        ({"sampled_at": sampled + timedelta(hours=1)}, e.InvalidReadingSampledAtError),
        ({"sampled_at": sampled.replace(tzinfo=None)}, e.InvalidReadingSampledAtError),
    ]:
        fields = {"channel_name": "x", "value": 1.0, "sampling_procedure": "baseline", "sampled_at": sampled, **bad}
        with pytest.raises(error):
            record.append_run_readings(run.id, [{"event_id": "ok-1", "channel_name": "ok", "value": 1.0,
                                                 "sampling_procedure": "baseline", "sampled_at": sampled}, fields])
    assert len(record.list_run_readings(run.id)) == 2  # a bad reading refuses its whole batch
    record.hold_run(run.id)
    assert record.append_run_reading(run.id, channel_name="ring_current", value=0.0, units="mA",
                                     sampling_procedure="monitor", sampled_at=clock.current) == 1
    record.abort_run(run.id, reason="beam dump did not recover")
    with pytest.raises(e.RunReadingLogbookClosedError):
        record.append_run_reading(run.id, channel_name="ring_current", value=1.0, sampling_procedure="monitor",
                                  sampled_at=clock.current)


def test_large_reading_batch(record, ids, clock):
    run = start(record, ids)
    at = clock.current
    batch = [{"event_id": f"r{i}", "channel_name": f"ch{i % 10}", "value": i * 0.5,
              "sampling_procedure": "monitor", "sampled_at": at} for i in range(5000)]
    assert record.append_run_readings(run.id, batch) == 5000
    assert len(record.list_run_readings(run.id)) == 5000


def test_list_runs_filters_and_pagination(record, ids, clock):
    runs = [start(record, ids, name=f"scan {i}") for i in range(5)]
    record.complete_run(runs[1].id)
    page = record.list_runs(limit=2)
    assert [r.name for r in page.items] == ["scan 4", "scan 3"]
    inserted = start(record, ids, name="scan 5")  # lands before the cursor: the walk stays stable
    second = record.list_runs(limit=2, cursor=page.next)
    third = record.list_runs(limit=2, cursor=second.next)
    assert [r.name for r in second.items + third.items] == ["scan 2", "scan 1", "scan 0"]
    assert third.next is None
    assert [r.id for r in record.list_runs(status="Completed").items] == [runs[1].id]
    assert len(record.list_runs(plan_id=ids.plan, limit=100).items) == 6
    assert record.list_runs(subject_id="other").items == []
    window = record.list_runs(created_from=runs[1].created_at, created_before=runs[3].created_at)
    assert [r.name for r in window.items] == ["scan 2", "scan 1"]
    assert inserted.id in {r.id for r in record.list_runs(limit=1).items}
    with pytest.raises(e.InvalidCursorError):
        record.list_runs(cursor="garbage!")
    with pytest.raises(e.InvalidListQueryError):
        record.list_runs(limit=0)
    with pytest.raises(e.InvalidListQueryError):
        record.list_runs(created_from=runs[0].created_at.replace(tzinfo=None))


def test_events_carry_principal_correlation_and_causation(record, ids):
    run = start(record, ids)
    record.register_principal(principal_id="alice", roles=["operator"])
    record.bound(principal="alice", correlation_id="session-9", causation_id="doc-uid-1").hold_run(run.id)
    started, held = record.history("run", run.id)
    assert started.actor == "tester" and started.correlation_id
    assert (held.actor, held.correlation_id, held.causation_id) == ("alice", "session-9", "doc-uid-1")
    assert held.event_type == "RunHeld" and held.version == 2


def test_replaying_the_stream_reproduces_the_projection(record, ids):
    from cora_bluesky.application.aggregates import RUN

    run = start(record, ids)
    record.hold_run(run.id)
    record.adjust_run(run.id, parameter_patch={"angles": 90}, reason="faster")
    record.resume_run(run.id)
    record.append_run_reading(run.id, channel_name="I0", value=3.0, sampling_procedure="baseline", sampled_at=record.now())
    record.stop_run(run.id, reason="enough")
    folded, version = record._fold(RUN, run.id)
    assert folded == record.get_run(run.id)
    assert version == 6 and record.store.get("run", run.id).version == 6
