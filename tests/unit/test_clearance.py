"""The Clearance review FSM: a closed table, reasons, windows and bindings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from support import NOW

from cora_bluesky.domain import clearance as c
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.form_types import BASELINE_FORM_TYPES
from cora_bluesky.domain.values import At

C = c.ClearanceStatus
CODES = frozenset(f.code for f in BASELINE_FORM_TYPES)


def register(**overrides):
    fields = dict(clearance_id="c1", form_type="aps-esaf", title="ESAF 1", subject_ids=("s1",))
    fields.update(overrides)
    return p_evolve(c.decide(c.RegisterClearance(**fields), None, c.ClearanceContext(NOW, CODES)))


def p_evolve(events, state=None):
    for event in events:
        state = c.evolve(state, event)
    return state


def walk(state, *commands, now=NOW):
    for command in commands:
        state = p_evolve(c.decide(command, state, At(now)), state)
    return state


REVIEW = (c.SubmitClearance("c1"), c.StartClearanceReview("c1"), c.ApproveClearance("c1"))


def test_ten_baseline_form_types():
    assert len(BASELINE_FORM_TYPES) == 10 and len(CODES) == 10
    facilities = {f.facility for f in BASELINE_FORM_TYPES}
    assert facilities == {"APS", "NSLS-II", "ESRF", "MAX IV", "Diamond", "DESY", "SLAC", "SPring-8"}


def test_full_review_to_active_and_in_force():
    state = walk(register(), *REVIEW)
    assert state.status is C.APPROVED and not c.in_force(state, NOW)
    state = walk(state, c.ActivateClearance("c1"))
    assert state.status is C.ACTIVE and c.in_force(state, NOW)


def test_window_limits_force_and_activation():
    state = walk(register(valid_until=NOW + timedelta(days=1)), *REVIEW, c.ActivateClearance("c1"))
    assert c.in_force(state, NOW) and not c.in_force(state, NOW + timedelta(days=1))
    with pytest.raises(e.ClearanceCannotActivateError):
        walk(register(valid_until=NOW + timedelta(days=1)), *REVIEW, c.ActivateClearance("c1"), now=NOW + timedelta(days=2))


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"form_type": "unknown-form"}, e.ClearanceFormTypeNotFoundError),
        ({"title": " "}, e.InvalidClearanceTitleError),
        ({"subject_ids": ()}, e.InvalidClearanceBindingsError),
        ({"subject_ids": ("s1", "s1")}, e.InvalidClearanceBindingsError),
        ({"hazards": ("",)}, e.InvalidClearanceHazardsError),
        ({"valid_from": NOW, "valid_until": NOW}, e.InvalidClearanceWindowError),
        ({"valid_from": NOW.replace(tzinfo=None)}, e.InvalidClearanceWindowError),
    ],
)
def test_registration_refusals(overrides, error):
    with pytest.raises(error):
        register(**overrides)


def test_already_exists_and_not_found():
    with pytest.raises(e.ClearanceAlreadyExistsError):
        c.decide(c.RegisterClearance("c1", "aps-esaf", "t", subject_ids=("s",)), register(), c.ClearanceContext(NOW, CODES))
    with pytest.raises(e.ClearanceNotFoundError):
        c.decide(c.SubmitClearance("c9"), None, At(NOW))


def test_bind_only_while_defined():
    state = walk(register(), c.BindClearance("c1", asset_ids=("a1",)))
    assert state.asset_ids == ("a1",) and state.subject_ids == ("s1",)
    with pytest.raises(e.ClearanceCannotBindError):
        walk(state, c.SubmitClearance("c1"), c.BindClearance("c1", asset_ids=("a2",)))


def test_reject_and_supersede_need_reasons():
    under_review = walk(register(), c.SubmitClearance("c1"), c.StartClearanceReview("c1"))
    with pytest.raises(e.InvalidClearanceReasonError):
        walk(under_review, c.RejectClearance("c1", ""))
    rejected = walk(under_review, c.RejectClearance("c1", "missing hazard analysis"))
    assert rejected.status is C.REJECTED and rejected.last_reason == "missing hazard analysis"
    superseded = walk(register(), *REVIEW, c.ActivateClearance("c1"), c.SupersedeClearance("c1", "amended", "c2"))
    assert superseded.status is C.SUPERSEDED and superseded.superseded_by == "c2"


#: The transition table written out from the review chain, independent of the module's.
ALLOWED = {
    "submit": ({C.DEFINED}, C.SUBMITTED),
    "start_review": ({C.SUBMITTED}, C.UNDER_REVIEW),
    "approve": ({C.UNDER_REVIEW}, C.APPROVED),
    "reject": ({C.SUBMITTED, C.UNDER_REVIEW}, C.REJECTED),
    "activate": ({C.APPROVED}, C.ACTIVE),
    "expire": ({C.APPROVED, C.ACTIVE}, C.EXPIRED),
    "supersede": ({C.DEFINED, C.SUBMITTED, C.UNDER_REVIEW, C.APPROVED, C.ACTIVE}, C.SUPERSEDED),
}
COMMANDS = {
    "submit": lambda: c.SubmitClearance("c1"),
    "start_review": lambda: c.StartClearanceReview("c1"),
    "approve": lambda: c.ApproveClearance("c1"),
    "reject": lambda: c.RejectClearance("c1", "no"),
    "activate": lambda: c.ActivateClearance("c1"),
    "expire": lambda: c.ExpireClearance("c1"),
    "supersede": lambda: c.SupersedeClearance("c1", "amended"),
}
REFUSALS = {
    "submit": e.ClearanceCannotSubmitError,
    "start_review": e.ClearanceCannotStartReviewError,
    "approve": e.ClearanceCannotApproveError,
    "reject": e.ClearanceCannotRejectError,
    "activate": e.ClearanceCannotActivateError,
    "expire": e.ClearanceCannotExpireError,
    "supersede": e.ClearanceCannotSupersedeError,
}


class ClearanceMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.now = NOW
        self.events = list(c.decide(c.RegisterClearance("c1", "aps-esaf", "t", subject_ids=("s1",)), None, c.ClearanceContext(NOW, CODES)))
        self.state = p_evolve(self.events)
        self.terminal = None

    @rule(name=st.sampled_from(sorted(ALLOWED)))
    def transition(self, name):
        self.now += timedelta(minutes=1)
        sources, target = ALLOWED[name]
        source = self.state.status
        try:
            events = c.decide(COMMANDS[name](), self.state, At(self.now))
        except e.CoraError as refused:
            assert source not in sources and type(refused) is REFUSALS[name]
            return
        assert source in sources
        self.state = p_evolve(events, self.state)
        self.events.extend(events)
        assert self.state.status is target

    @invariant()
    def only_active_is_in_force(self):
        assert c.in_force(self.state, self.now) == (self.state.status is C.ACTIVE)

    @invariant()
    def terminal_absorbs_and_replay_matches(self):
        if self.terminal is not None:
            assert self.state.status is self.terminal
        elif self.state.status in c.TERMINAL:
            self.terminal = self.state.status
        assert p_evolve(self.events) == self.state


ClearanceMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=20)
TestClearanceMachine = ClearanceMachine.TestCase
