"""The slice table against the Python API and the domain: neither has a command the table lacks."""

from __future__ import annotations

import dataclasses
import inspect

from cora_bluesky.application.record import Record
from cora_bluesky.application.slices import DECIDERS, SERVED, SLICES, Category
from cora_bluesky.domain import errors as e

#: public Record methods that are not slices: lookups the gate, the recorder and the console
#: make, and the record's own plumbing (authentication, authorization, the first administrator)
LOOKUPS = {
    "active_calibrations", "assets_for_devices", "authenticate", "bound", "check_equipment_permits",
    "check_run_gates", "clearances_covering", "close", "find_asset", "find_enclosure", "find_method", "find_plan",
    "find_named", "get_token", "history", "now", "resolve_plan", "stale_runs", "store_as", "timeline",
    "acting_roles", "authorize", "bootstrap", "has_principals",
    # a Run's data: every run holding a Bluesky run (list_runs' filters, all pages), and the
    # catalog entry and its verification, which read the beamline's catalog, not the record
    "find_runs", "open_data", "verify_run_data",
}


def test_every_public_method_of_the_record_is_a_slice_or_a_named_lookup():
    public = {name for name, _ in inspect.getmembers(Record, inspect.isfunction) if not name.startswith("_")}
    tools = {row.tool for row in SLICES}
    assert public - tools == LOOKUPS
    assert tools <= public


def test_each_row_calls_its_record_method_with_what_the_surfaces_send():
    checked = 0
    for row in SLICES:
        parameters = inspect.signature(getattr(Record, row.tool)).parameters
        names = list(parameters)[1:]  # after self
        assert names[: len(row.path_params)] == list(row.path_params), row.tool
        accepted = set(names) | ({"**"} if any(p.kind is p.VAR_KEYWORD for p in parameters.values()) else set())
        sent = set(row.query) | (set(row.request.model_fields) if row.request is not None else set())
        assert sent <= accepted, (row.tool, sent - accepted)
        if row.category is Category.NEW and row.path is not None:
            assert f"{row.aggregate.kind}_id" in accepted, row.tool  # a keyed create chooses the id
        checked += 1
    assert checked == len(SLICES) > len(SERVED)


def test_each_command_row_is_decided_by_the_domain_class_of_its_name():
    commands = [row for row in SLICES if row.category is not Category.QUERY]
    for row in commands:
        assert dataclasses.is_dataclass(row.decided_by) and row.decided_by.__name__ == row.command, row.tool
    assert len(commands) > 40


def test_every_command_of_a_transition_table_has_a_row():
    named = {row.command for row in SLICES}
    tables = 0
    for module in set(DECIDERS.values()):
        for command in getattr(module, "TRANSITIONS", {}):
            assert command.__name__ in named, command
            tables += 1
    assert tables >= 20


def test_refusals_are_named_errors_and_transitions_name_their_own():
    for row in SLICES:
        assert all(issubclass(refusal, e.CoraError) for refusal in row.errors), row.tool
        if row.category is Category.MODIFIED and row.path_params:
            assert row.errors[0].__name__.endswith("NotFoundError"), row.tool
    hold = next(row for row in SLICES if row.tool == "hold_run")
    assert hold.errors == (e.RunNotFoundError, e.RunCannotHoldError)
    abort = next(row for row in SLICES if row.tool == "abort_run")
    assert abort.errors == (e.RunNotFoundError, e.RunCannotAbortError, e.InvalidRunAbortReasonError)


def test_every_slice_method_of_the_record_checks_its_rows_duty():
    checked = 0
    for row in SLICES:
        assert getattr(Record, row.tool).duty is row.duty, row.tool
        checked += 1
    assert checked == len(SLICES)
