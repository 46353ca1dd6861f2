"""Equipment, recipe, subject and calibration deciders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import NOW, asset

from cora_bluesky.application.schemas import schema_problems
from cora_bluesky.domain import calibration as cal
from cora_bluesky.domain import equipment as eq
from cora_bluesky.domain import errors as e
from cora_bluesky.domain import recipe as rc
from cora_bluesky.domain import subject as sj
from cora_bluesky.domain.calibration import CalibrationSource
from cora_bluesky.domain.procedure import ProcedureState, ProcedureStatus
from cora_bluesky.domain.values import At


def placement(assets=None, enclosures=("B",)):
    return eq.PlacementContext(NOW, assets or {}, frozenset(enclosures))


def test_register_asset_and_decommission():
    (event,) = eq.decide_asset(eq.RegisterAsset("a1", " stage ", "rotation_stage", None, "B", ("rot", "rot_x")), None, placement())
    state = eq.evolve_asset(None, event)
    assert state.name == "stage" and state.device_names == ("rot", "rot_x")
    state = eq.evolve_asset(state, eq.decide_asset(eq.DecommissionAsset("a1"), state, At(NOW))[0])
    assert state.status is eq.AssetStatus.DECOMMISSIONED
    with pytest.raises(e.AssetCannotDecommissionError):
        eq.decide_asset(eq.DecommissionAsset("a1"), state, At(NOW))
    with pytest.raises(e.AssetCannotMoveError):
        eq.decide_asset(eq.MoveAsset("a1", None, None), state, placement())


@pytest.mark.parametrize(
    "command, error",
    [
        (eq.RegisterAsset("a1", "", "f"), e.InvalidAssetNameError),
        (eq.RegisterAsset("a1", "n", " "), e.InvalidAssetFamilyError),
        (eq.RegisterAsset("a1", "n", "f", device_names=("d", "d")), e.InvalidAssetDeviceNamesError),
        (eq.RegisterAsset("a1", "n", "f", device_names="det"), e.InvalidAssetDeviceNamesError),
        (eq.RegisterAsset("a1", "n", "f", parent_id="ghost"), e.AssetNotFoundError),
        (eq.RegisterAsset("a1", "n", "f", enclosure_id="Z"), e.EnclosureNotFoundError),
        (eq.RegisterAsset("a1", "n", "f", parent_id="a1"), e.AssetContainmentCycleError),
    ],
)
def test_asset_registration_refusals(command, error):
    with pytest.raises(error):
        eq.decide_asset(command, None, placement())


def test_move_into_own_descendant_is_a_cycle():
    tree = {"top": asset("top"), "mid": asset("mid", parent="top"), "leaf": asset("leaf", parent="mid")}
    with pytest.raises(e.AssetContainmentCycleError):
        eq.decide_asset(eq.MoveAsset("top", "leaf", None), tree["top"], placement(tree))
    (moved,) = eq.decide_asset(eq.MoveAsset("leaf", "top", "B"), tree["leaf"], placement(tree))
    assert moved.parent_id == "top" and moved.enclosure_id == "B"


@given(st.lists(st.integers(0, 7), min_size=1, max_size=8), st.integers(0, 7), st.integers(0, 7))
def test_moves_never_create_a_cycle(parents, child, new_parent):
    # a chain a0 <- a1 <- ... built from generated parent picks, then an arbitrary move
    tree = {}
    for index, pick in enumerate(parents):
        parent = f"a{pick % index}" if index else None
        tree[f"a{index}"] = asset(f"a{index}", parent=parent)
    child, new_parent = f"a{child % len(tree)}", f"a{new_parent % len(tree)}"
    try:
        (moved,) = eq.decide_asset(eq.MoveAsset(child, new_parent, None), tree[child], placement(tree))
    except e.AssetContainmentCycleError:
        return
    tree[child] = eq.evolve_asset(tree[child], moved)
    assert child not in eq.ancestors(child, tree)


def test_enclosure_registration():
    ctx = eq.EnclosureContext(NOW, frozenset({"2-BM-A"}))
    (event,) = eq.decide_enclosure(eq.RegisterEnclosure("b", "2-BM-B", "PA:B", ("PA:S1",)), None, ctx)
    assert eq.evolve_enclosure(None, event).shutter_pvs == ("PA:S1",)
    with pytest.raises(e.EnclosureAlreadyExistsError):
        eq.decide_enclosure(eq.RegisterEnclosure("a", "2-BM-A", "PA:A"), None, ctx)
    with pytest.raises(e.InvalidEnclosurePvError):
        eq.decide_enclosure(eq.RegisterEnclosure("c", "C", "PA C"), None, ctx)
    with pytest.raises(e.InvalidEnclosureNameError):
        eq.decide_enclosure(eq.RegisterEnclosure("c", "", "PA:C"), None, ctx)


def method_ctx(taken=()):
    return rc.MethodContext(NOW, frozenset(taken), schema_problems)


def test_method_schema_must_be_a_valid_json_schema():
    with pytest.raises(e.InvalidMethodSchemaError):
        rc.decide_method(rc.RegisterMethod("m", "tomo", {"type": "nonsense"}), None, method_ctx())
    with pytest.raises(e.MethodAlreadyExistsError):
        rc.decide_method(rc.RegisterMethod("m", "tomo"), None, method_ctx({"tomo"}))
    with pytest.raises(e.InvalidMethodFamiliesError):
        rc.decide_method(rc.RegisterMethod("m", "t", None, ("cam", "cam")), None, method_ctx())
    (event,) = rc.decide_method(rc.RegisterMethod("m", "tomo", {"type": "object"}, ("cam",)), None, method_ctx())
    assert rc.evolve_method(None, event).needed_families == ("cam",)


def test_plan_registration_and_deprecation():
    method = rc.evolve_method(None, rc.decide_method(rc.RegisterMethod("m", "tomo"), None, method_ctx())[0])
    ctx = rc.PlanContext(NOW, frozenset(), method, frozenset({"a1"}))
    state = rc.evolve_plan(None, rc.decide_plan(rc.RegisterPlan("p", "tomo_scan", "m", {"x": 1}, ("a1",)), None, ctx)[0])
    assert state.status is rc.PlanStatus.ACTIVE
    state = rc.evolve_plan(state, rc.decide_plan(rc.DeprecatePlan("p"), state, At(NOW))[0])
    assert state.status is rc.PlanStatus.DEPRECATED
    with pytest.raises(e.PlanCannotDeprecateError):
        rc.decide_plan(rc.DeprecatePlan("p"), state, At(NOW))
    with pytest.raises(e.PlanNotFoundError):
        rc.decide_plan(rc.DeprecatePlan("q"), None, At(NOW))
    with pytest.raises(e.MethodNotFoundError):
        rc.decide_plan(rc.RegisterPlan("p2", "x", "m9", {}), None, rc.PlanContext(NOW, frozenset(), None, frozenset()))
    with pytest.raises(e.AssetNotFoundError):
        rc.decide_plan(rc.RegisterPlan("p2", "x", "m", {}, ("ghost",)), None, ctx)
    with pytest.raises(e.InvalidPlanParametersError):
        rc.decide_plan(rc.RegisterPlan("p2", "x", "m", {"x": float("nan")}), None, ctx)
    with pytest.raises(e.PlanAlreadyExistsError):
        rc.decide_plan(rc.RegisterPlan("p2", "tomo_scan", "m", {}), None, rc.PlanContext(NOW, frozenset({"tomo_scan"}), method, frozenset()))


S = sj.SubjectStatus
SUBJECT_MOVES = {
    "mount": (sj.MountSubject, {S.REGISTERED, S.UNMOUNTED}, S.MOUNTED, e.SubjectCannotMountError),
    "measured": (sj.MarkSubjectMeasured, {S.MOUNTED}, S.MEASURED, e.SubjectCannotMarkMeasuredError),
    "unmount": (sj.UnmountSubject, {S.MOUNTED, S.MEASURED}, S.UNMOUNTED, e.SubjectCannotUnmountError),
}


@given(st.lists(st.sampled_from(sorted(SUBJECT_MOVES)), max_size=12))
def test_subject_moves_follow_the_table(moves):
    events = list(sj.decide(sj.RegisterSubject("s", "sample"), None, At(NOW)))
    state = sj.evolve(None, events[0])
    for move in moves:
        command, sources, target, refusal = SUBJECT_MOVES[move]
        if state.status in sources:
            (event,) = sj.decide(command("s"), state, At(NOW))
            state = sj.evolve(state, event)
            events.append(event)
            assert state.status is target
        else:
            with pytest.raises(refusal):
                sj.decide(command("s"), state, At(NOW))
    replayed = None
    for event in events:
        replayed = sj.evolve(replayed, event)
    assert replayed == state


def test_subject_refusals():
    with pytest.raises(e.InvalidSubjectNameError):
        sj.decide(sj.RegisterSubject("s", " "), None, At(NOW))
    with pytest.raises(e.SubjectNotFoundError):
        sj.decide(sj.MountSubject("s"), None, At(NOW))


def procedure(status=ProcedureStatus.RUNNING, targets=("a1",)):
    return ProcedureState("x1", "find center", "alignment", targets, None, None, status, NOW, NOW)


def record(source, *, asset_exists=True, proc=None, value=12.5):
    command = cal.RecordCalibration("k1", "a1", "rotation_center", value, source, "px")
    return cal.decide(command, None, cal.CalibrationContext(NOW, asset_exists, proc))


def test_calibration_sources():
    (event,) = record(CalibrationSource.procedure("x1"), proc=procedure())
    assert event.source.kind is cal.SourceKind.PROCEDURE
    assert record(CalibrationSource.dataset("file:///d.h5", "sha256:ab"))[0].source.checksum == "sha256:ab"
    assert record(CalibrationSource.asserted("beamline scientist"))[0].value == 12.5


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"source": CalibrationSource.procedure("x1"), "proc": None}, e.ProcedureNotFoundError),
        ({"source": CalibrationSource.procedure("x1"), "proc": procedure(ProcedureStatus.ABORTED)}, e.InvalidCalibrationSourceError),
        ({"source": CalibrationSource.procedure("x1"), "proc": procedure(targets=("a2",))}, e.InvalidCalibrationSourceError),
        ({"source": CalibrationSource.dataset("file:///d.h5", None)}, e.InvalidCalibrationSourceError),
        ({"source": "run r1"}, e.InvalidCalibrationSourceError),
        ({"source": CalibrationSource.asserted("me"), "asset_exists": False}, e.AssetNotFoundError),
        ({"source": CalibrationSource.asserted("me"), "value": float("nan")}, e.InvalidCalibrationValueError),
        ({"source": CalibrationSource.asserted("me"), "value": True}, e.InvalidCalibrationValueError),
    ],
)
def test_calibration_refusals(kwargs, error):
    with pytest.raises(error):
        record(**kwargs)


def test_newest_revision_is_active():
    first = cal.evolve(None, record(CalibrationSource.asserted("a"), value=1.0)[0])
    second = cal.CalibrationState("k2", "a1", "rotation_center", 2.0, "px", first.source, NOW.replace(hour=15), NOW)
    other = cal.CalibrationState("k3", "a1", "pixel_size", 0.65, "um", first.source, NOW, NOW)
    active = cal.active_revisions([second, first, other])
    assert active[("a1", "rotation_center")].id == "k2" and active[("a1", "pixel_size")].id == "k3"


def test_an_asset_id_listed_twice_is_invalid_input_not_an_unknown_asset():
    from cora_bluesky.domain import procedure as p

    with pytest.raises(e.InvalidAssetIdsError):
        p.decide(p.RegisterProcedure("x1", "n", "alignment", ("a", "a")), None, At(NOW))
