"""Properties of the two start gates over generated clearances, trees and permits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import NOW, asset, clearance, enclosure

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.clearance import ClearanceStatus, in_force
from cora_bluesky.domain.gates import Permit, check_clearances, check_enclosures, enclosure_scope

IDS = ["r1", "s1", "a1", "a2", "x", "y"]
clearances = st.lists(
    st.builds(
        lambda i, status, runs, subjects, assets, until: clearance(
            f"c{i}", status, runs=runs, subjects=subjects, assets=assets,
            valid_until=None if until is None else NOW + timedelta(hours=until),
        ),
        st.integers(0, 99),
        st.sampled_from(list(ClearanceStatus)),
        st.sampled_from([(), ("r1",), ("x",)]),
        st.sampled_from([(), ("s1",), ("y",)]),
        st.sampled_from([(), ("a1",), ("a2", "x")]),
        st.one_of(st.none(), st.integers(-2, 2)),
    ),
    max_size=6,
)


@given(clearances, st.sampled_from([None, "s1"]), st.sampled_from([(), ("a1",), ("a2",)]))
def test_clearance_gate_outcomes_partition(cs, subject, assets):
    referencing = [
        c for c in cs
        if "r1" in c.run_ids or (subject and subject in c.subject_ids) or set(c.asset_ids) & set(assets)
    ]
    try:
        chosen = check_clearances(cs, run_id="r1", subject_id=subject, asset_ids=assets, now=NOW)
    except e.RunRequiresActiveClearanceError:
        assert referencing == []
    except e.RunClearanceCoverageMismatchError as refused:
        assert referencing and not any(in_force(c, NOW) for c in referencing)
        assert refused.data["count"] == len(referencing)
    else:
        assert chosen in referencing and in_force(chosen, NOW)


@st.composite
def trees(draw):
    """A random containment forest of up to 12 assets, some declaring one of four hutches."""
    count = draw(st.integers(1, 12))
    assets = {}
    for index in range(count):
        parent = draw(st.one_of(st.none(), st.integers(0, index - 1))) if index else None
        hutch = draw(st.one_of(st.none(), st.sampled_from("ABCD")))
        name = f"a{index}"
        assets[name] = asset(name, parent=None if parent is None else f"a{parent}", hutch=hutch)
    bound = draw(st.lists(st.sampled_from(sorted(assets)), min_size=1, max_size=4, unique=True))
    return assets, bound


@given(trees())
def test_scope_is_every_hutch_declared_up_each_chain(tree):
    assets, bound = tree
    expected = set()
    for name in bound:
        current = assets[name]
        while current is not None:
            if current.enclosure_id:
                expected.add(current.enclosure_id)
            current = assets.get(current.parent_id) if current.parent_id else None
    assert set(enclosure_scope(bound, assets)) == expected


@given(trees(), st.dictionaries(st.sampled_from("ABCD"), st.booleans()))
def test_enclosure_outcomes(tree, permitted):
    assets, bound = tree
    scope = enclosure_scope(bound, assets)
    permits = {h: Permit(h, ok) for h, ok in permitted.items()}
    enclosures = {h: enclosure(h) for h in "ABCD"}
    failing = [h for h in scope if not permitted.get(h, False)]
    try:
        check_enclosures(scope, enclosures, permits)
    except e.RunRequiresPermittedEnclosureError as refused:
        assert scope and len(failing) == len(scope)
        assert refused.data["hutches"] == [h.upper() for h in failing]
    except e.RunEnclosureCoverageMismatchError as refused:
        assert 0 < len(failing) < len(scope)
        assert refused.data["hutches"] == [h.upper() for h in failing]
    else:
        assert failing == []


def test_a_cycle_in_stored_data_does_not_hang_the_walk():
    assets = {"a": asset("a", parent="b", hutch="A"), "b": asset("b", parent="a", hutch="B")}
    assert set(enclosure_scope(["a"], assets)) == {"A", "B"}


def test_refusal_explains_each_failing_hutch():
    with pytest.raises(e.RunRequiresPermittedEnclosureError) as refused:
        check_enclosures(("B",), {"B": enclosure("B")}, {"B": Permit("B", False, "station shutter PV disconnected")})
    assert "disconnected" in refused.value.message
    assert refused.value.data["details"] == {"B": "station shutter PV disconnected"}
