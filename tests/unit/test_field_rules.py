"""Field rules are declared once; the request models derived from them give the domain's verdict."""

from __future__ import annotations

import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from cora_bluesky.application import messages
from cora_bluesky.domain import errors as e
from cora_bluesky.domain import rules
from cora_bluesky.domain.rules import RULES, ChoiceRule, TextRule


def test_the_whitespace_the_edges_spell_out_is_what_python_strips():
    assert set(rules.WHITESPACE) == {chr(code) for code in range(0x110000) if chr(code).isspace()}


def test_every_rule_is_listed_and_names_an_input_refusal():
    declared = [value for value in vars(rules).values() if isinstance(value, (TextRule, ChoiceRule))]
    assert len(RULES) == len(declared) >= 40
    assert all(issubclass(rule.error, e.CoraError) for rule in RULES)


def _edge(rule) -> TypeAdapter:
    return TypeAdapter(messages.Text(rule) if isinstance(rule, TextRule) else messages.Choice(rule))


def _domain_takes(rule, value: str) -> bool:
    try:
        rule.check(value)
    except rule.error:
        return False
    return True


def _edge_takes(rule, value: str) -> bool:
    try:
        _edge(rule).validate_python(value)
    except ValidationError:
        return False
    return True


_ODD = st.sampled_from(["\x00", "é", "\u2003", "\x1c", "\U0001f600", "\n", " "])


@st.composite
def around_the_bound(draw, rule) -> str:
    """Text whose trimmed length sits at, just inside or just outside the rule's bounds."""
    if isinstance(rule, ChoiceRule):
        allowed = draw(st.sampled_from(rule.allowed))
        return draw(st.sampled_from([allowed, allowed.upper(), f" {allowed}", allowed[:-1], ""]) | st.text(max_size=12))
    length = draw(st.sampled_from(sorted({0, rule.low, rule.high - 1, rule.high, rule.high + 1})) | st.integers(0, 8))
    body = list(draw(st.text(st.characters(codec="utf-8", exclude_characters=rules.WHITESPACE + "\x00"),
                             min_size=length, max_size=length)))
    for _ in range(draw(st.integers(0, 2))):  # a few odd characters inside: NUL, space, non-ASCII
        if body:
            body[draw(st.integers(0, len(body) - 1))] = draw(_ODD)
    padding = st.text(st.sampled_from(rules.WHITESPACE), max_size=3)
    return draw(padding) + "".join(body) + draw(padding)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: f"{rule.name}:{rule.field}")
@settings(max_examples=60)
@given(data=st.data())
def test_the_request_model_gives_the_domains_verdict(rule, data):
    value = data.draw(around_the_bound(rule))
    assert _edge_takes(rule, value) == _domain_takes(rule, value), (len(value.strip()), value[:20])


@pytest.mark.parametrize("rule", [rule for rule in RULES if isinstance(rule, TextRule)], ids=lambda r: r.field)
def test_at_the_bound_is_taken_and_one_past_refused_by_both(rule):
    at, past = "x" * rule.high, "x" * (rule.high + 1)
    assert _domain_takes(rule, at) and _edge_takes(rule, at)
    assert not _domain_takes(rule, past) and not _edge_takes(rule, past)
    with pytest.raises(rule.error):
        rule.check(past)


def _request_models() -> list[type[BaseModel]]:
    return [model for model in vars(messages).values()
            if isinstance(model, type) and issubclass(model, messages.Body) and model is not messages.Body]


def _string_schema(schema: dict, definitions: dict) -> dict | None:
    """The schema of the strings a field takes, through optionality and lists."""
    if "$ref" in schema:
        return None  # a nested model: its own fields are checked on their own
    for option in schema.get("anyOf", []):
        found = _string_schema(option, definitions)
        if found is not None:
            return found
    if schema.get("type") == "array":
        return _string_schema(schema.get("items", {}), definitions)
    if schema.get("type") == "string" or "enum" in schema:
        return schema
    return None


def test_every_named_text_field_of_a_request_carries_its_rules_bounds():
    by_name: dict[str, list] = {}
    for rule in RULES:
        by_name.setdefault(rule.name, []).append(rule)
    checked = []
    for model in _request_models():
        schema = model.model_json_schema()
        for field, info in model.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            name = extra.get("x-error")
            strings = _string_schema(schema["properties"][field], schema.get("$defs", {}))
            if name not in by_name or strings is None:
                continue
            candidates = [rule for rule in by_name[name] if rule.field.split(".")[-1] == field] or by_name[name]
            rule = candidates[0]
            if isinstance(rule, ChoiceRule):
                assert strings.get("enum") == list(rule.allowed), (model.__name__, field)
            else:
                bounds = (strings.get("minLength"), strings.get("maxLength"))
                assert bounds == (rule.low, rule.high), (model.__name__, field, bounds, rule)
            checked.append((model.__name__, field))
    # the walk saw the fields it is about: a refactoring that hides them fails here, not silently
    assert len(checked) >= 35, checked
    assert ("ReadingIn", "channel_name") in checked and ("ReadingIn", "units") in checked


def test_nested_external_refs_take_the_domains_bounds():
    fields = messages.ExternalRefIn.model_json_schema()["properties"]
    assert fields["scheme"]["maxLength"] == rules.EXTERNAL_REF_SCHEME.high == 50
    assert fields["id"]["maxLength"] == rules.EXTERNAL_REF_ID.high
    source = messages.CalibrationSourceIn.model_json_schema()["properties"]
    assert source["ref"]["maxLength"] == rules.CALIBRATION_SOURCE_REF.high
    assert typing.get_args(messages.Choice(rules.STEP_KIND)) == rules.STEP_KIND.allowed
