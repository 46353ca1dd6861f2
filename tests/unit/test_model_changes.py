"""Deciders of the beamline model's changes: hutch PVs, an asset's devices and family, plan and method revisions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import NOW

from cora_bluesky.application.schemas import schema_problems
from cora_bluesky.domain import equipment as eq
from cora_bluesky.domain import errors as e
from cora_bluesky.domain import recipe as rc
from cora_bluesky.domain.values import At

names = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Z")), min_size=1, max_size=20)
pvs = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Z")), min_size=1, max_size=40)
devices = st.lists(names, unique=True, max_size=4).map(tuple)
defaults = st.dictionaries(names, st.integers(-1000, 1000) | names, max_size=3)


def hutch() -> eq.EnclosureState:
    (event,) = eq.decide_enclosure(eq.RegisterEnclosure("h", "2-BM-B", "P:B"), None, eq.EnclosureContext(NOW, frozenset()))
    return eq.evolve_enclosure(None, event)


def stage(**kw) -> eq.AssetState:
    (event,) = eq.decide_asset(eq.RegisterAsset("a", "stage", "f", device_names=("s",)), None,
                               eq.PlacementContext(NOW, {}, frozenset()))
    return eq.evolve_asset(None, event)


def plan() -> rc.PlanState:
    method = rc.MethodState("m", "tomography", None, (), NOW, NOW)
    (event,) = rc.decide_plan(rc.RegisterPlan("p", "tomo_scan", "m", {}), None,
                              rc.PlanContext(NOW, frozenset(), method, frozenset()))
    return rc.evolve_plan(None, event)


def method() -> rc.MethodState:
    (event,) = rc.decide_method(rc.RegisterMethod("m", "tomography"), None, rc.MethodContext(NOW, frozenset(), schema_problems))
    return rc.evolve_method(None, event)


@given(secured=pvs, shutters=st.lists(pvs, max_size=3).map(tuple))
def test_a_hutch_takes_the_pvs_it_is_given_once(secured, shutters):
    state = hutch()
    command = eq.ChangeEnclosurePvs("h", secured, shutters)
    events = eq.decide_enclosure(command, state, At(NOW))
    for event in events:
        state = eq.evolve_enclosure(state, event)
    assert (state.secured_pv, state.shutter_pvs) == (secured.strip(), tuple(s.strip() for s in shutters))
    assert eq.decide_enclosure(command, state, At(NOW)) == ()  # the same change again records nothing
    assert (state.id, state.name, state.created_at) == ("h", "2-BM-B", NOW)


@given(first=devices, second=devices, family=names)
def test_an_asset_takes_devices_and_family_and_replay_is_deterministic(first, second, family):
    state, history = stage(), []
    for command in (eq.ChangeAssetDevices("a", first), eq.ChangeAssetFamily("a", family), eq.ChangeAssetDevices("a", second)):
        events = eq.decide_asset(command, state, At(NOW))
        history += events
        for event in events:
            state = eq.evolve_asset(state, event)
    assert state.device_names == tuple(d.strip() for d in second) and state.family == family.strip()
    replayed = stage()
    for event in history:
        replayed = eq.evolve_asset(replayed, event)
    assert replayed == state


@given(command=st.one_of(st.builds(eq.ChangeAssetDevices, st.just("a"), devices),
                         st.builds(eq.ChangeAssetFamily, st.just("a"), names)))
def test_a_decommissioned_asset_absorbs_every_change(command):
    state = stage()
    state = eq.evolve_asset(state, eq.decide_asset(eq.DecommissionAsset("a"), state, At(NOW))[0])
    with pytest.raises(e.AssetCannotChangeError):
        eq.decide_asset(command, state, At(NOW))


@given(parameters=defaults, bluesky=st.lists(names, unique_by=str.strip, max_size=4).map(tuple))
def test_a_plan_revision_lands_once_and_a_deprecated_plan_refuses_it(parameters, bluesky):
    state = plan()
    command = rc.RevisePlan("p", parameters, (), bluesky)
    ctx = rc.RevisePlanContext(NOW, frozenset())
    for event in rc.decide_plan(command, state, ctx):
        state = rc.evolve_plan(state, event)
    assert dict(state.default_parameters) == parameters and state.bluesky_names == tuple(b.strip() for b in bluesky)
    assert rc.decide_plan(command, state, ctx) == ()
    state = rc.evolve_plan(state, rc.decide_plan(rc.DeprecatePlan("p"), state, At(NOW))[0])
    with pytest.raises(e.PlanCannotReviseError):
        rc.decide_plan(command, state, ctx)
    with pytest.raises(e.PlanCannotDeprecateError):
        rc.decide_plan(rc.DeprecatePlan("p"), state, At(NOW))


@given(maximum=st.integers(1, 10_000), families=st.lists(names, unique_by=str.strip, max_size=3).map(tuple))
def test_a_method_revision_keeps_only_valid_schemas(maximum, families):
    state = method()
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": maximum}}}
    ctx = rc.ReviseMethodContext(NOW, schema_problems)
    for event in rc.decide_method_revision(rc.ReviseMethod("m", schema, families), state, ctx):
        state = rc.evolve_method(state, event)
    assert state.parameters_schema == schema and state.needed_families == tuple(f.strip() for f in families)
    with pytest.raises(e.InvalidMethodSchemaError):
        rc.decide_method_revision(rc.ReviseMethod("m", {"type": "nonsense"}), state, ctx)


@pytest.mark.parametrize(
    "command, state, error",
    [
        (eq.ChangeEnclosurePvs("h", "P", ()), None, e.EnclosureNotFoundError),
        (eq.ChangeEnclosurePvs("h", "P B", ()), "hutch", e.InvalidEnclosurePvError),
        (eq.ChangeEnclosurePvs("h", "P", "P:S"), "hutch", e.InvalidEnclosurePvError),
    ],
)
def test_pv_change_refusals(command, state, error):
    with pytest.raises(error):
        eq.decide_enclosure(command, hutch() if state else None, At(NOW))


def test_plan_revision_refusals():
    ctx = rc.RevisePlanContext(NOW, frozenset())
    with pytest.raises(e.PlanNotFoundError):
        rc.decide_plan(rc.RevisePlan("p", {}), None, ctx)
    with pytest.raises(e.AssetNotFoundError):
        rc.decide_plan(rc.RevisePlan("p", {}, ("ghost",)), plan(), ctx)
    with pytest.raises(e.InvalidPlanBlueskyNamesError):
        rc.decide_plan(rc.RevisePlan("p", {}, (), "scan"), plan(), ctx)
    with pytest.raises(e.MethodNotFoundError):
        rc.decide_method_revision(rc.ReviseMethod("m", None), None, rc.ReviseMethodContext(NOW, schema_problems))
