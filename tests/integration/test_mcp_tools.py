"""`cora mcp` over stdio, driven by the MCP SDK's own client: every slice is a tool."""

from __future__ import annotations

import sys
import uuid

import pytest

import cora_bluesky
from cora_bluesky.application.slices import SERVED as SLICES
from cora_bluesky.server.tools import input_schema
from mcp import ClientSession, StdioServerParameters, stdio_client
from support import activate_clearance, build_beamline, staff

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def beamline(tmp_path):
    """A record file with the 2-BM beamline, no clearance yet, and a token per role."""
    uri = f"sqlite:///{tmp_path / 'record.db'}"
    with cora_bluesky.connect(uri, principal="setup") as record:
        ids = build_beamline(record, activate=False)
        staff(record, **{f"{role}-1": (role,) for role in ("viewer", "operator", "safety", "admin")})
        tokens = {
            role: record.issue_token(principal=f"{role}-1", role=role)[1]
            for role in ("viewer", "operator", "safety", "admin")
        }
    return uri, ids, tokens


def _server(uri: str, token: str) -> StdioServerParameters:
    # the SDK passes the child a minimal environment: name the interpreter and the token
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "cora_bluesky.cli", "mcp", "--uri", uri, "--permit", "2-BM-A=1", "--permit", "2-BM-B=1"],
        env={"CORA_TOKEN": token},
    )


async def test_every_slice_is_a_tool_with_the_rest_input(beamline):
    uri, _, tokens = beamline
    async with stdio_client(_server(uri, tokens["viewer"])) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == {row.tool for row in SLICES} and len(tools) == len(SLICES)
    seen = 0
    for row in SLICES:
        assert tools[row.tool].input_schema == input_schema(row), row.tool
        assert tools[row.tool].title == row.command
        body = set(row.request.model_fields) if row.request is not None else set()
        properties = set(tools[row.tool].input_schema.get("properties", {}))
        assert properties >= body | set(row.path_params) | set(row.query), row.tool
        seen += 1
    assert seen == len(SLICES)


async def test_a_session_starts_holds_and_completes_a_run_and_is_refused_without_a_clearance(beamline):
    uri, ids, tokens = beamline
    start = {"name": "tomography of sn-2024-038", "plan_id": ids.plan, "subject_id": ids.subject}
    async with stdio_client(_server(uri, tokens["operator"])) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        refused = await session.call_tool("start_run", {**start, "idempotency_key": str(uuid.uuid4())})
        assert refused.is_error
        assert refused.structured_content["error"] == "RunRequiresActiveClearance"
        assert "clearance" in refused.structured_content["message"].lower()

        with cora_bluesky.connect(uri, principal="safety-officer") as record:
            activate_clearance(record, subject_ids=[ids.subject])

        key = str(uuid.uuid4())
        started = await session.call_tool("start_run", {**start, "idempotency_key": key})
        assert not started.is_error, started.structured_content
        run_id = started.structured_content["run_id"]
        again = await session.call_tool("start_run", {**start, "idempotency_key": key})
        assert again.structured_content == started.structured_content  # a retry answers as the first call
        held = await session.call_tool("hold_run", {"run_id": run_id})
        assert held.structured_content["status"] == "Held"
        twice = await session.call_tool("hold_run", {"run_id": run_id})
        assert twice.is_error and twice.structured_content["error"] == "RunCannotHold"
        assert (await session.call_tool("resume_run", {"run_id": run_id})).structured_content["status"] == "Running"
        done = await session.call_tool("complete_run", {"run_id": run_id})
        assert done.structured_content["status"] == "Completed"
        shown = await session.call_tool("get_run", {"run_id": run_id})
        assert shown.structured_content["status"] == "Completed"
        listed = await session.call_tool("list_runs", {"status": "Completed"})
        assert [item["id"] for item in listed.structured_content["items"]] == [run_id]

    with cora_bluesky.connect(uri) as record:
        events = record.store.load(f"run:{run_id}")
    assert [event.event_type for event in events] == ["RunStarted", "RunHeld", "RunResumed", "RunCompleted"]
    assert {event.actor for event in events} == {"operator-1"}  # the token's principal, nobody else


async def test_the_principal_and_its_duties_come_from_the_token(beamline):
    uri, ids, tokens = beamline
    async with stdio_client(_server(uri, tokens["viewer"])) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        forbidden = await session.call_tool("register_subject", {"name": "sn-1", "principal": "operator-1"})
        # extra arguments are refused before anything else is looked at
        assert forbidden.is_error and forbidden.structured_content["error"] in {"Forbidden", "InvalidRequest"}
        denied = await session.call_tool("register_subject", {"name": "sn-1"})
        assert denied.is_error and denied.structured_content["error"] == "Forbidden"
        assert denied.structured_content["needs"] == ["operator"]
        read = await session.call_tool("get_plan", {"plan_id": ids.plan})
        assert not read.is_error and read.structured_content["name"] == "tomo_scan"


async def test_bad_arguments_get_the_names_rest_gives_them(beamline):
    uri, ids, tokens = beamline
    async with stdio_client(_server(uri, tokens["operator"])) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        cases = [
            ("start_run", {"name": "x", "plan_id": ids.plan}, "IdempotencyKeyRequired"),
            ("start_run", {"name": "", "plan_id": ids.plan, "idempotency_key": "k"}, "InvalidRunName"),
            ("start_run", {"name": "x", "plan_id": ids.plan, "idempotency_key": "has space"}, "InvalidIdempotencyKey"),
            ("list_runs", {"limit": 0}, "InvalidListQuery"),
            ("get_run", {"run_id": "nope"}, "RunNotFound"),
            ("abort_run", {"run_id": "nope", "reason": "   "}, "InvalidRunAbortReason"),
        ]
        for tool, arguments, name in cases:
            answer = await session.call_tool(tool, arguments)
            assert answer.is_error and answer.structured_content["error"] == name, (tool, answer.structured_content)


async def test_a_server_without_a_valid_token_does_not_start(beamline):
    uri, _, _ = beamline
    with pytest.raises(Exception):
        async with stdio_client(_server(uri, "not-a-token")) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
