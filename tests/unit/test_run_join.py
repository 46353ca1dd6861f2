"""Equipment joining a running plan: examples and a Hypothesis property of the decider."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import NOW, asset, enclosure, start_command, start_context

from cora_bluesky.domain import errors as e
from cora_bluesky.domain import run
from cora_bluesky.domain.equipment import AssetStatus
from cora_bluesky.domain.gates import Permit
from cora_bluesky.domain.values import At

LATER = NOW + timedelta(minutes=5)
HUTCHES = ("A", "B", "C")


def started(**overrides) -> run.RunState:
    return run.evolve(None, run.decide(start_command(**overrides), None, start_context())[0])


def join(state, asset_ids, assets, permits, devices=("dev",)):
    ctx = run.JoinContext(LATER, assets, {h: enclosure(h) for h in HUTCHES}, permits)
    return run.decide(run.JoinRunAssets(state.id, tuple(asset_ids), tuple(devices)), state, ctx)


def test_joining_from_the_runs_own_hutch_records_the_asset_and_adds_no_hutch():
    state = started()  # a1 in B
    assets = {"a1": asset("a1", hutch="B"), "a2": asset("a2", hutch="B")}
    (event,) = join(state, ["a2"], assets, {})
    assert event == run.RunAssetsJoined(state.id, ("a2",), ("dev",), (), LATER)
    assert run.evolve(state, event).asset_ids == ("a1", "a2")


def test_joining_from_an_unpermitted_hutch_names_the_hutch_and_the_device():
    state = started()
    assets = {"a1": asset("a1", hutch="B"), "mono": asset("mono", hutch="A")}
    with pytest.raises(e.RunRequiresPermittedEnclosureError) as refused:
        join(state, ["mono"], assets, {"A": Permit("A", False, "A reads 0")}, devices=["mono_x"])
    assert refused.value.data["hutches"] == ["A"] and refused.value.data["devices"] == ["mono_x"]
    assert "mono_x" in refused.value.message and "A reads 0" in refused.value.message


def test_a_hutch_with_no_reading_fails_closed():
    state = started()
    assets = {"a1": asset("a1", hutch="B"), "mono": asset("mono", hutch="A")}
    with pytest.raises(e.RunRequiresPermittedEnclosureError):
        join(state, ["mono"], assets, {})


def test_only_open_runs_take_equipment():
    done = run.evolve(started(), run.decide(run.CompleteRun("r1"), started(), At(LATER))[0])
    with pytest.raises(e.RunCannotJoinAssetsError):
        join(done, ["a1"], {"a1": asset("a1")}, {})


def test_unknown_and_decommissioned_assets_are_refused():
    state = started()
    with pytest.raises(e.AssetNotFoundError):
        join(state, ["ghost"], {"a1": asset("a1", hutch="B")}, {})
    retired = {"a1": asset("a1", hutch="B"), "old": asset("old", status=AssetStatus.DECOMMISSIONED)}
    with pytest.raises(e.RunAssetDecommissionedError):
        join(state, ["old"], retired, {})


def test_assets_already_bound_join_as_nothing():
    state = started()
    assert join(state, ["a1"], {"a1": asset("a1", hutch="B")}, {}) == ()


placements = st.dictionaries(
    st.sampled_from(["j1", "j2", "j3", "j4"]), st.sampled_from([None, *HUTCHES]), min_size=1
)


@given(placements, st.dictionaries(st.sampled_from(HUTCHES), st.booleans()), st.sampled_from([None, *HUTCHES]))
def test_a_join_passes_exactly_when_every_hutch_it_adds_is_permitted(placed, permitted, run_hutch):
    state = started()
    assets = {"a1": asset("a1", hutch=run_hutch), **{a: asset(a, hutch=h) for a, h in placed.items()}}
    permits = {h: Permit(h, ok) for h, ok in permitted.items()}
    added = {h for h in placed.values() if h is not None and h != run_hutch}
    failing = {h for h in added if not permitted.get(h, False)}
    if failing:
        with pytest.raises(e.RunRequiresPermittedEnclosureError) as refused:
            join(state, list(placed), assets, permits)
        assert set(refused.value.data["hutches"]) == {enclosure(h).name for h in failing}
        return
    (event,) = join(state, list(placed), assets, permits)
    assert set(event.enclosure_ids) == added and event.asset_ids == tuple(placed)
    assert run.evolve(state, event).asset_ids == ("a1", *placed)
