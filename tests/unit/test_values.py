"""RFC 7396 merge patch, JSON hygiene and the state codec."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import start_command, start_context

from cora_bluesky.application.codec import decode, encode
from cora_bluesky.domain import run
from cora_bluesky.domain.merge_patch import merge_patch
from cora_bluesky.domain.values import json_problem

# The examples of RFC 7396, appendix A.
RFC_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize("target, patch, result", RFC_EXAMPLES)
def test_rfc7396_examples(target, patch, result):
    before = json.dumps(target)
    assert merge_patch(target, patch) == result
    assert json.dumps(target) == before  # never mutates


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)
objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


@given(objects, objects)
def test_merge_is_idempotent_and_sets_every_non_null_member(target, patch):
    merged = merge_patch(target, patch)
    assert merge_patch(merged, patch) == merged
    for key, value in patch.items():
        if value is None:
            assert key not in merged
        elif not isinstance(value, dict):
            assert merged[key] == value


@pytest.mark.parametrize(
    "value",
    [float("nan"), {"a": float("inf")}, [1, {"b": -float("inf")}], {1: "x"}, {"a": b"bytes"}, {"a": {1, 2}}],
)
def test_json_problem_finds_hostile_values(value):
    assert json_problem(value)


def test_json_problem_bounds_depth():
    deep = current = {}
    for _ in range(40):
        current["x"] = {}
        current = current["x"]
    assert "deeper" in json_problem(deep)


def test_codec_round_trips_states_and_events():
    (event,) = run.decide(start_command(external_refs=(("proposal", "1"),), override_parameters={"n": [1, 2]}), None, start_context())
    assert decode(run.RunStarted, json.loads(json.dumps(encode(event)))) == event
    state = run.evolve(None, event)
    assert decode(run.RunState, json.loads(json.dumps(encode(state)))) == state
