"""The Procedure FSM and its steps logbook."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from support import NOW, asset

from cora_bluesky.domain import errors as e
from cora_bluesky.domain import procedure as p
from cora_bluesky.domain.equipment import AssetStatus
from cora_bluesky.domain.values import At

P = p.ProcedureStatus
LATER = NOW + timedelta(minutes=1)


def registered(**overrides) -> p.ProcedureState:
    fields = dict(procedure_id="x1", name="find rotation center", kind="alignment", target_asset_ids=("a1",))
    fields.update(overrides)
    return p.evolve(None, p.decide(p.RegisterProcedure(**fields), None, At(NOW))[0])


def apply(state, command, ctx=None):
    for event in p.decide(command, state, ctx or At(LATER)):
        state = p.evolve(state, event)
    return state


def running() -> p.ProcedureState:
    return apply(registered(), p.StartProcedure("x1"), p.StartProcedureContext(LATER, {"a1": asset("a1")}))


def test_register_defines_with_optional_parent_run():
    state = registered(parent_run_id="r1")
    assert state.status is P.DEFINED and state.parent_run_id == "r1"
    with pytest.raises(e.ProcedureAlreadyExistsError):
        p.decide(p.RegisterProcedure("x1", "n", "alignment"), state, At(NOW))


@pytest.mark.parametrize("name", ["", " ", "n" * 201])
def test_invalid_name(name):
    with pytest.raises(e.InvalidProcedureNameError):
        registered(name=name)


@pytest.mark.parametrize("kind", ["", "k" * 51, None])
def test_invalid_kind(kind):
    with pytest.raises(e.InvalidProcedureKindError):
        registered(kind=kind)


def test_start_refuses_decommissioned_or_unknown_targets():
    retired = {"a1": asset("a1", status=AssetStatus.DECOMMISSIONED)}
    with pytest.raises(e.ProcedureAssetDecommissionedError):
        apply(registered(), p.StartProcedure("x1"), p.StartProcedureContext(LATER, retired))
    with pytest.raises(e.AssetNotFoundError):
        apply(registered(), p.StartProcedure("x1"), p.StartProcedureContext(LATER, {}))


def test_start_only_from_defined():
    with pytest.raises(e.ProcedureCannotStartError):
        apply(running(), p.StartProcedure("x1"), p.StartProcedureContext(LATER, {"a1": asset("a1")}))


@pytest.mark.parametrize(
    "command, status, refusal",
    [
        (p.CompleteProcedure("x1"), P.COMPLETED, e.ProcedureCannotCompleteError),
        (p.AbortProcedure("x1", "vacuum fault"), P.ABORTED, e.ProcedureCannotAbortError),
        (p.TruncateProcedure("x1", "crash", LATER), P.TRUNCATED, e.ProcedureCannotTruncateError),
    ],
)
def test_endings_are_single_source_from_running(command, status, refusal):
    with pytest.raises(refusal):
        apply(registered(), command)
    done = apply(running(), command)
    assert done.status is status and done.last_status_changed_at == LATER
    with pytest.raises(refusal):
        apply(done, command)


def test_reasons_and_interrupted_at():
    with pytest.raises(e.InvalidProcedureAbortReasonError):
        apply(running(), p.AbortProcedure("x1", " "))
    with pytest.raises(e.InvalidProcedureTruncateReasonError):
        apply(running(), p.TruncateProcedure("x1", ""))
    with pytest.raises(e.InvalidProcedureInterruptedAtError):
        apply(running(), p.TruncateProcedure("x1", "crash", LATER + timedelta(hours=1)))
    with pytest.raises(e.InvalidProcedureInterruptedAtError):
        apply(running(), p.TruncateProcedure("x1", "crash", NOW))  # before it started
    done = apply(running(), p.TruncateProcedure("x1", "crash", LATER))
    assert done.interrupted_at == LATER and done.last_status_reason == "crash"


def test_unknown_procedure():
    with pytest.raises(e.ProcedureNotFoundError):
        p.decide(p.CompleteProcedure("nope"), None, At(NOW))


def steps(*entries):
    return p.AppendProcedureStep("x1", tuple(entries))


def step(event_id="s1", kind="setpoint", payload=None, sampled_at=LATER):
    return p.Step(event_id, kind, {"channel": "rot", "target_value": 90.0} if payload is None else payload, sampled_at)


def test_first_steps_open_the_logbook_once():
    state = running()
    events, rows = p.decide_steps(steps(step("s1"), step("s2", "check")), state, p.StepsContext(LATER, "log-1"))
    assert [type(ev) for ev in events] == [p.ProcedureStepsLogbookOpened]
    assert [row.logbook_id for row in rows] == ["log-1", "log-1"]
    state = p.evolve(state, events[0])
    events, rows = p.decide_steps(steps(step("s3")), state, p.StepsContext(LATER, "log-2"))
    assert events == () and rows[0].logbook_id == "log-1"


@pytest.mark.parametrize("source", [registered, lambda: apply(running(), p.CompleteProcedure("x1"))])
def test_steps_logbook_closed_outside_running(source):
    with pytest.raises(e.ProcedureStepsLogbookClosedError):
        p.decide_steps(steps(step()), source(), p.StepsContext(LATER, "log"))


@pytest.mark.parametrize(
    "bad, error",
    [
        (step(kind="measure"), e.InvalidStepKindError),
        (step(payload={"v": float("inf")}), e.InvalidStepPayloadError),
        (step(payload=[1, 2]), e.InvalidStepPayloadError),
        (step(sampled_at=LATER + timedelta(hours=1)), e.InvalidStepSampledAtError),
        (step(event_id=" "), e.InvalidEntryIdError),
    ],
)
def test_bad_steps_are_refused(bad, error):
    with pytest.raises(error):
        p.decide_steps(steps(step(), bad), running(), p.StepsContext(LATER, "log"))


ALLOWED = {"start": {P.DEFINED}, "complete": {P.RUNNING}, "abort": {P.RUNNING}, "truncate": {P.RUNNING}}


class ProcedureMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.now = NOW
        self.events = list(p.decide(p.RegisterProcedure("x1", "align", "alignment", ("a1",)), None, At(NOW)))
        self.state = p.evolve(None, self.events[0])
        self.terminal = None

    def run(self, name, command, ctx=None):
        self.now += timedelta(seconds=1)
        source = self.state.status
        try:
            events = p.decide(command, self.state, ctx or At(self.now))
        except e.CoraError as refused:
            assert source not in ALLOWED[name]
            assert type(refused).__name__ == f"ProcedureCannot{name.title()}Error"
            return
        assert source in ALLOWED[name]
        for event in events:
            self.state = p.evolve(self.state, event)
        self.events.extend(events)

    @rule()
    def start(self):
        self.run("start", p.StartProcedure("x1"), p.StartProcedureContext(self.now, {"a1": asset("a1")}))

    @rule()
    def complete(self):
        self.run("complete", p.CompleteProcedure("x1"))

    @rule()
    def abort(self):
        self.run("abort", p.AbortProcedure("x1", "fault"))

    @rule()
    def truncate(self):
        self.run("truncate", p.TruncateProcedure("x1", "crash"))

    @rule(count=st.integers(0, 3))
    def append_steps(self, count):
        batch = steps(*(step(f"s{i}", sampled_at=self.now) for i in range(count)))
        try:
            events, rows = p.decide_steps(batch, self.state, p.StepsContext(self.now, "log"))
        except e.ProcedureStepsLogbookClosedError:
            assert self.state.status is not P.RUNNING
            return
        assert self.state.status is P.RUNNING and len(rows) == count
        for event in events:
            self.state = p.evolve(self.state, event)
        self.events.extend(events)

    @invariant()
    def terminal_absorbs_and_replay_matches(self):
        if self.terminal is not None:
            assert self.state.status is self.terminal
        elif self.state.status in p.TERMINAL:
            self.terminal = self.state.status
        replayed = None
        for event in self.events:
            replayed = p.evolve(replayed, event)
        assert replayed == self.state


ProcedureMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=20)
TestProcedureMachine = ProcedureMachine.TestCase
