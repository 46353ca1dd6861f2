"""Which clearance let a run start: recorded on the start, and held against the safety form it names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import NOW, clearance, start_command, start_context

from cora_bluesky.domain import errors as e
from cora_bluesky.domain import run
from cora_bluesky.domain.clearance import ClearanceContext, RegisterClearance, decide, evolve
from cora_bluesky.domain.clearance import ClearanceStatus as C


def start(command=None, **context):
    return run.decide(command or start_command(), None, start_context(**context))


def test_a_started_run_records_every_clearance_in_force_over_it():
    forms = (
        clearance("c1", subjects=("s1",)),
        clearance("c2", assets=("a1",)),
        clearance("c3", C.APPROVED, subjects=("s1",)),  # not in force: authorized nothing
        clearance("c4", subjects=("s2",)),  # another sample's
    )
    (event,) = start(clearances=forms)
    assert event.clearance_ids == ("c1", "c2")
    assert run.evolve(None, event).clearance_ids == ("c1", "c2")


def test_a_run_naming_another_form_than_the_one_in_force_is_refused():
    forms = (clearance("c1", subjects=("s1",), form_number="271828"),)
    with pytest.raises(e.RunSafetyFormMismatchError) as refused:
        start(start_command(external_refs=[("esaf", "314159")]), clearances=forms)
    assert refused.value.data["safety_form"] == "314159"
    assert refused.value.data["clearances"] == [{"id": "c1", "title": "ESAF", "form_number": "271828"}]
    (event,) = start(start_command(external_refs=[("esaf", "271828")]), clearances=forms)
    assert event.clearance_ids == ("c1",)


def test_a_clearance_without_a_number_cannot_contradict_the_metadata():
    (event,) = start(start_command(external_refs=[("safety_form", "314159")]))
    assert event.clearance_ids == ("c1",)


def test_a_form_number_is_trimmed_text():
    command = RegisterClearance("c9", "aps-esaf", "ESAF", subject_ids=("s1",), form_number="  271828 ")
    (registered,) = decide(command, None, ClearanceContext(NOW, frozenset({"aps-esaf"})))
    assert evolve(None, registered).form_number == "271828"
    blank = RegisterClearance("c9", "aps-esaf", "ESAF", subject_ids=("s1",), form_number="   ")
    with pytest.raises(e.InvalidClearanceFormNumberError):
        decide(blank, None, ClearanceContext(NOW, frozenset({"aps-esaf"})))


NUMBERS = st.sampled_from(["271828", "314159", "161803"])


@given(
    held=st.lists(st.tuples(st.booleans(), st.none() | NUMBERS), min_size=1, max_size=4),
    named=st.lists(st.tuples(st.sampled_from(sorted(run.SAFETY_FORM_SCHEMES) + ["proposal"]), NUMBERS), max_size=3),
)
def test_the_safety_form_rule(held, named):
    """Refused exactly when a clearance in force carries a number and a named form is not among
    them; accepted, the start records exactly the clearances in force."""
    forms = tuple(
        clearance(f"c{i}", C.ACTIVE if active else C.APPROVED, subjects=("s1",), form_number=number)
        for i, (active, number) in enumerate(held)
    )
    in_force = [form for form in forms if form.status is C.ACTIVE]
    numbers = {form.form_number for form in in_force if form.form_number}
    safety = {number for scheme, number in named if scheme in run.SAFETY_FORM_SCHEMES}
    command = start_command(external_refs=list(dict.fromkeys(named)))
    if not in_force:
        with pytest.raises(e.RunClearanceCoverageMismatchError):
            start(command, clearances=forms)
    elif numbers and not safety <= numbers:
        with pytest.raises(e.RunSafetyFormMismatchError):
            start(command, clearances=forms)
    else:
        (event,) = start(command, clearances=forms)
        assert event.clearance_ids == tuple(form.id for form in in_force)
