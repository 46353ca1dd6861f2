"""The record's MCP tools: one per slice, generated from the slice table, served over stdio.

A tool takes the same input as its REST route (path ids, body fields and listing filters in
one object, with the same bounds), keeps the same idempotency (``idempotency_key`` where the
route takes an ``Idempotency-Key``) and answers with the same response model. Refusals are
tool errors whose structured content is the REST error body: the spec's error name, a message
and the facts to act on. Who is acting comes from the token the server was started with,
never from what a client says.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from cora_bluesky.application.messages import Body
from cora_bluesky.application.ports import IdempotencyKeys
from cora_bluesky.application.record import Record
from cora_bluesky.application.slices import BY_TOOL, PATH_ID, REQUIRED, SERVED, Idempotency, Slice, adapter
from cora_bluesky.domain import errors as e
from cora_bluesky.server import idempotency
from cora_bluesky.server.auth import authorized
from cora_bluesky.server.dispatch import perform
from cora_bluesky.server.errors import body_of, refusal_name

log = logging.getLogger("cora_bluesky.server.tools")

class _NoBody(Body):
    """No body: path ids and filters only, checked like every body (text that reads back)."""


def _annotated(kind: Any, constraints: Any) -> Any:
    return Annotated[kind, Field(**constraints)]


@functools.cache
def arguments_model(row: Slice) -> type[BaseModel]:
    """The tool's input: the row's body model widened by its path ids, filters and key."""
    fields: dict[str, Any] = {}
    for name in row.path_params:
        fields[name] = (_annotated(PATH_ID.kind, PATH_ID.constraints), ...)
    for name, param in row.query.items():
        fields[name] = (_annotated(param.kind, param.constraints), ... if param.default is REQUIRED else param.default)
    if row.idempotency is Idempotency.REQUIRED:
        fields["idempotency_key"] = (_annotated(str, idempotency.KEY_CONSTRAINTS), ...)
    elif row.idempotency is Idempotency.OPTIONAL:
        fields["idempotency_key"] = (_annotated(str | None, idempotency.KEY_CONSTRAINTS), None)
    base = row.request or _NoBody
    return create_model(f"{row.command}Arguments", __base__=base, __doc__=row.doc, **fields)


def input_schema(row: Slice) -> dict[str, Any]:
    return arguments_model(row).model_json_schema()


def output_schema(row: Slice) -> dict[str, Any] | None:
    """The response model's schema, when its answer is an object (MCP wants one)."""
    if row.response is None:
        return None
    schema = adapter(row.response).json_schema()
    return schema if schema.get("type") == "object" or "$ref" in schema else None


def _invalid(row: Slice, error: ValidationError) -> dict[str, Any]:
    """The REST 422 body for arguments that fail validation, named as REST names them."""
    problems = [
        {"field": ".".join(str(part) for part in problem["loc"]) or "(arguments)", "problem": problem["msg"]}
        for problem in error.errors()
    ][:20]
    first = error.errors()[0]
    message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
    name = refusal_name(_as_rest(row, list(first["loc"])), first["type"], row.request)
    return {"error": name, "message": message, "problems": problems}


def _as_rest(row: Slice, location: list[Any]) -> list[Any]:
    """Where an argument would have been in the HTTP request."""
    top = location[0] if location else None
    if top == "idempotency_key":
        return ["header", idempotency.HEADER]
    if top in row.query:
        return ["query", *location]
    if top in row.path_params:
        return ["path", *location]
    return ["body", *location]


class Refusal(Exception):
    """A tool call refused before or by the record, with the body to answer."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.body = body


def call_tool(record: Record, secret: str, tool: str, raw: Any) -> Any:
    """Perform ``tool`` for the holder of ``secret``; the JSON-ready answer, or :class:`Refusal`.

    Every refusal, of the record or of the arguments, carries the spec's error name.
    """
    row = BY_TOOL[tool]
    try:
        bound = authorized(record, secret, row.duty)
        try:
            given = arguments_model(row).model_validate(raw if isinstance(raw, dict) else {})
        except ValidationError as error:
            raise Refusal(_invalid(row, error)) from None
        values = dict(given)
        key = values.pop("idempotency_key", None)
        body = None
        if row.request is not None:
            body = row.request.model_validate({name: values[name] for name in row.request.model_fields})
            values = {**values, **body.model_dump()}
        keyed = None
        if row.idempotency in (Idempotency.REQUIRED, Idempotency.OPTIONAL):
            keyed = idempotency.Keyed(key, bound, required=row.idempotency is Idempotency.REQUIRED, what=tool)
        ids = json.dumps([values[name] for name in row.path_params])
        keys = record.store_as(IdempotencyKeys)  # kept with the record, as the HTTP server keeps them
        _, payload, _ = perform(bound, row, values, keyed=keyed, keys=keys, called=("mcp", f"{tool} {ids}"), body=body)
        return payload
    except e.CoraError as error:
        raise Refusal(body_of(error)) from None


def serve_stdio(record: Record, secret: str) -> None:
    """Serve every slice as an MCP tool over stdin/stdout until the client goes away."""
    import anyio
    import mcp.types as types
    from mcp.server import Server
    from mcp.server.stdio import stdio_server
    from mcp.shared.exceptions import MCPError

    def result(payload: Any, *, error: bool = False) -> Any:
        structured = payload if isinstance(payload, dict) else {"items": payload}
        if payload is None:
            structured = {}
        text = json.dumps(structured, ensure_ascii=False)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=structured, is_error=error
        )

    tools = [
        types.Tool(
            name=row.tool,
            title=row.command,
            description=row.doc,
            input_schema=input_schema(row),
            output_schema=output_schema(row),
        )
        for row in SERVED
    ]

    async def on_list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=tools)

    async def on_call_tool(ctx: Any, params: Any) -> Any:
        if params.name not in BY_TOOL:
            raise MCPError(code=types.INVALID_PARAMS, message=f"no tool {params.name!r}")
        act = functools.partial(call_tool, record, secret, params.name, params.arguments or {})
        try:
            # the record blocks on its store: keep the event loop free for the protocol
            return result(await anyio.to_thread.run_sync(act))
        except Refusal as refusal:
            return result(refusal.body, error=True)
        except Exception:
            log.exception("unexpected failure in tool %s", params.name)
            body = {"error": "Internal", "message": "the server failed; the failure is in its log"}
            return result(body, error=True)

    import cora_bluesky

    server = Server(
        "cora-bluesky", version=cora_bluesky.__version__, on_list_tools=on_list_tools, on_call_tool=on_call_tool
    )

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)  # stdout carries the protocol only
    anyio.run(main)
