"""The Run FSM: examples for every transition and refusal, and a Hypothesis state machine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from support import NOW, TOMO_SCHEMA, start_command, start_context

from cora_bluesky.application.schemas import parameter_check
from cora_bluesky.domain import errors as e
from cora_bluesky.domain import run
from cora_bluesky.domain.values import At

R = run.RunStatus
LATER = At(NOW + timedelta(minutes=5))


def started(**overrides) -> run.RunState:
    return run.evolve(None, run.decide(start_command(**overrides), None, start_context())[0])


def apply(state, command, ctx=LATER):
    for event in run.decide(command, state, ctx):
        state = run.evolve(state, event)
    return state


def held() -> run.RunState:
    return apply(started(), run.HoldRun("r1"))


def test_hold_resume_cycles_without_reasons():
    state = started()
    for _ in range(3):
        state = apply(state, run.HoldRun("r1"))
        assert state.status is R.HELD
        state = apply(state, run.ResumeRun("r1"))
        assert state.status is R.RUNNING


def test_strict_hold_and_resume():
    with pytest.raises(e.RunCannotHoldError):
        apply(held(), run.HoldRun("r1"))
    with pytest.raises(e.RunCannotResumeError):
        apply(started(), run.ResumeRun("r1"))


def test_complete_only_from_running():
    with pytest.raises(e.RunCannotCompleteError):
        apply(held(), run.CompleteRun("r1"))
    done = apply(started(), run.CompleteRun("r1"))
    assert done.status is R.COMPLETED
    with pytest.raises(e.RunCannotCompleteError):
        apply(done, run.CompleteRun("r1"))


@pytest.mark.parametrize(
    "command, status, refusal",
    [
        (run.AbortRun("r1", " beam dump "), R.ABORTED, e.RunCannotAbortError),
        (run.StopRun("r1", "enough data"), R.STOPPED, e.RunCannotStopError),
        (run.TruncateRun("r1", "power cut"), R.TRUNCATED, e.RunCannotTruncateError),
    ],
)
@pytest.mark.parametrize("source", [started, held])
def test_exits_from_running_or_held_need_a_reason(command, status, refusal, source):
    state = apply(source(), command)
    assert state.status is status
    assert state.last_reason == command.reason.strip()
    with pytest.raises(refusal):
        apply(state, command)


@pytest.mark.parametrize(
    "command",
    [
        run.AbortRun("r1", ""),
        run.StopRun("r1", "   "),
        run.TruncateRun("r1", "x" * 501),
        run.AdjustRun("r1", {"exposure": 1}, "\t"),
    ],
)
def test_blank_or_oversize_reasons_are_refused(command):
    expected = run.REASON_ERRORS[type(command)]
    with pytest.raises(expected):
        apply(started(), command)


def test_truncate_interrupted_at_bounds():
    state = started()
    ok = apply(state, run.TruncateRun("r1", "died", NOW + timedelta(minutes=1)))
    assert ok.interrupted_at == NOW + timedelta(minutes=1)
    with pytest.raises(e.InvalidRunInterruptedAtError):
        apply(state, run.TruncateRun("r1", "died", NOW + timedelta(hours=1)))  # after LATER: future
    with pytest.raises(e.InvalidRunInterruptedAtError):
        apply(state, run.TruncateRun("r1", "died", NOW - timedelta(seconds=1)))  # before start
    with pytest.raises(e.InvalidRunInterruptedAtError):
        apply(state, run.TruncateRun("r1", "died", NOW.replace(tzinfo=None)))


def test_unknown_run():
    with pytest.raises(e.RunNotFoundError):
        run.decide(run.HoldRun("nope"), None, LATER)


def adjust_ctx(schema=TOMO_SCHEMA):
    return run.AdjustContext(LATER.now, parameter_check(schema) if schema else None)


def test_adjust_merges_counts_and_keeps_pins():
    state = started(pinned_calibrations=None)
    state = apply(state, run.AdjustRun("r1", {"exposure": 0.2}, "drift", "decision-1"), adjust_ctx())
    state = apply(state, run.AdjustRun("r1", {"angles": 360}, "finer"), adjust_ctx())
    assert state.effective_parameters == {"exposure": 0.2, "angles": 360}
    assert state.override_parameters == {}
    assert state.adjustment_count == 2 and state.last_adjusted_at == LATER.now
    assert state.status is R.RUNNING


def test_adjust_refused_outside_schema_and_trusted_without_one():
    with pytest.raises(e.InvalidRunAdjustSchemaError):
        apply(started(), run.AdjustRun("r1", {"exposure": -1}, "why"), adjust_ctx())
    state = apply(started(), run.AdjustRun("r1", {"exposure": -1}, "why"), adjust_ctx(None))
    assert state.effective_parameters["exposure"] == -1


@pytest.mark.parametrize("patch", [{}, [], "x", {"a": float("nan")}])
def test_adjust_patch_must_be_a_non_empty_object(patch):
    with pytest.raises(e.InvalidRunAdjustPatchError):
        apply(started(), run.AdjustRun("r1", patch, "why"), adjust_ctx(None))


def test_adjust_refused_on_terminal_run():
    done = apply(started(), run.CompleteRun("r1"))
    with pytest.raises(e.RunCannotAdjustError):
        apply(done, run.AdjustRun("r1", {"exposure": 1}, "why"), adjust_ctx())


# --- property-based ---------------------------------------------------------------------

#: The spec's table, written out independently of the decider's.
ALLOWED = {
    "hold": {R.RUNNING},
    "resume": {R.HELD},
    "complete": {R.RUNNING},
    "abort": {R.RUNNING, R.HELD},
    "stop": {R.RUNNING, R.HELD},
    "truncate": {R.RUNNING, R.HELD},
    "adjust": {R.RUNNING, R.HELD},
}
REFUSAL = {
    "hold": e.RunCannotHoldError,
    "resume": e.RunCannotResumeError,
    "complete": e.RunCannotCompleteError,
    "abort": e.RunCannotAbortError,
    "stop": e.RunCannotStopError,
    "truncate": e.RunCannotTruncateError,
    "adjust": e.RunCannotAdjustError,
}
TERMINAL = {R.COMPLETED, R.ABORTED, R.STOPPED, R.TRUNCATED}

reasons = st.one_of(st.sampled_from(["", "   ", "x" * 501, "beam dump"]), st.text(max_size=30))
patches = st.dictionaries(
    st.sampled_from(["exposure", "angles", "mode"]),
    st.one_of(st.none(), st.floats(-5, 20, allow_nan=False), st.integers(-3, 400)),
    max_size=3,
)


class RunMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.now = NOW
        self.events = list(run.decide(start_command(), None, start_context()))
        self.state = run.evolve(None, self.events[0])
        self.terminal_seen = None
        self.adjustments = 0

    def step(self, name, command, ctx=None):
        self.now += timedelta(seconds=1)
        ctx = ctx or At(self.now)
        before = self.state
        try:
            events = run.decide(command, self.state, ctx)
        except e.CoraError as refused:
            assert self.state == before
            return refused
        assert self.state.status in ALLOWED[name], f"{name} accepted from {self.state.status}"
        for event in events:
            self.state = run.evolve(self.state, event)
        self.events.extend(events)
        return None

    @rule()
    def hold(self):
        source = self.state.status
        refused = self.step("hold", run.HoldRun("r1"))
        assert (refused is None) == (source in ALLOWED["hold"])
        if refused:
            assert isinstance(refused, e.RunCannotHoldError)

    @rule()
    def resume(self):
        source = self.state.status
        refused = self.step("resume", run.ResumeRun("r1"))
        assert (refused is None) == (source in ALLOWED["resume"])
        if refused:
            assert isinstance(refused, e.RunCannotResumeError)

    @rule()
    def complete(self):
        source = self.state.status
        refused = self.step("complete", run.CompleteRun("r1"))
        assert (refused is None) == (source in ALLOWED["complete"])
        if refused:
            assert isinstance(refused, e.RunCannotCompleteError)

    @rule(name=st.sampled_from(["abort", "stop", "truncate"]), reason=reasons)
    def exit(self, name, reason):
        command = {"abort": run.AbortRun, "stop": run.StopRun, "truncate": run.TruncateRun}[name]("r1", reason)
        source = self.state.status
        refused = self.step(name, command)
        reason_ok = 1 <= len(reason.strip()) <= 500 and "\x00" not in reason
        if not reason_ok:
            assert isinstance(refused, run.REASON_ERRORS[type(command)])
        else:
            assert (refused is None) == (source in ALLOWED[name])
            if refused:
                assert isinstance(refused, REFUSAL[name])

    @rule(patch=patches, reason=st.sampled_from(["drift", ""]))
    def adjust(self, patch, reason):
        source = self.state.status
        ctx = run.AdjustContext(self.now + timedelta(seconds=1), parameter_check(TOMO_SCHEMA))
        refused = self.step("adjust", run.AdjustRun("r1", patch, reason), ctx)
        if refused is None:
            self.adjustments += 1
            assert source in ALLOWED["adjust"]
        elif not reason:
            assert isinstance(refused, e.InvalidRunAdjustReasonError)
        elif source not in ALLOWED["adjust"]:
            assert isinstance(refused, e.RunCannotAdjustError)
        else:
            assert isinstance(refused, (e.InvalidRunAdjustPatchError, e.InvalidRunAdjustSchemaError))

    @invariant()
    def terminal_states_absorb(self):
        if self.terminal_seen is not None:
            assert self.state.status == self.terminal_seen
        elif self.state.status in TERMINAL:
            self.terminal_seen = self.state.status

    @invariant()
    def replay_reproduces_the_state(self):
        replayed = None
        for event in self.events:
            replayed = run.evolve(replayed, event)
        assert replayed == self.state

    @invariant()
    def counts_and_frozen_fields(self):
        assert self.state.adjustment_count == self.adjustments
        assert self.state.pinned_calibrations == ()
        assert self.state.created_at == NOW

    @invariant()
    def effective_parameters_obey_the_schema(self):
        assert parameter_check(TOMO_SCHEMA)(self.state.effective_parameters) == ()


RunMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=25)
TestRunMachine = RunMachine.TestCase


def test_datasets_link_once_and_summaries_land_before_the_end():
    state = apply(started(), run.LinkRunDataset("r1", "uid-1", "tiled://host/raw/uid-1"))
    state = apply(state, run.LinkRunDataset("r1", "uid-2", "tiled://host/raw/uid-2"))
    assert [d.start_uid for d in state.datasets] == ["uid-1", "uid-2"]
    with pytest.raises(e.RunCannotLinkDatasetError):
        apply(state, run.LinkRunDataset("r1", "uid-1", "x"))
    with pytest.raises(e.InvalidRunDatasetError):
        apply(state, run.LinkRunDataset("r1", " ", "x"))
    with pytest.raises(e.InvalidRunSummaryError):
        apply(state, run.SummarizeRun("r1", {"duration_s": float("inf")}))
    state = apply(state, run.SummarizeRun("r1", {"duration_s": 12.5, "holds": 1}))
    done = apply(state, run.CompleteRun("r1"))
    assert done.summary == {"duration_s": 12.5, "holds": 1}
    with pytest.raises(e.RunCannotSummarizeError):
        apply(done, run.SummarizeRun("r1", {}))
    with pytest.raises(e.RunCannotLinkDatasetError):
        apply(done, run.LinkRunDataset("r1", "uid-3", "x"))
