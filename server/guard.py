"""An ASGI guard in front of the app: bounded request bodies and strict JSON.

Python's JSON parser takes ``NaN`` and ``Infinity`` and fails deep in the interpreter on very
deeply nested documents; neither is JSON a client should be able to send. Both are refused
here with the one error body, before any route runs.
"""

from __future__ import annotations

import json
from typing import Any

from cora_bluesky.domain import errors as e
from cora_bluesky.server.errors import respond

#: Bodies larger than this are refused unread.
MAX_BODY_BYTES = 1024 * 1024


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class BodyGuard:
    def __init__(self, app: Any, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._refuse(scope, receive, send, self._too_large())
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse(scope, receive, send, self._too_large())
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and b"json" in headers.get(b"content-type", b""):
            try:
                json.loads(body, parse_constant=_no_constants)
            except (ValueError, RecursionError) as problem:
                reason = "nested too deeply" if isinstance(problem, RecursionError) else str(problem)[:200]
                refusal = e.InvalidRequestError(f"the body is not acceptable JSON: {reason}")
                await self._refuse(scope, receive, send, refusal)
                return
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> e.CoraError:
        return e.RequestTooLargeError(
            f"request bodies are limited to {self.max_body_bytes} bytes", limit=self.max_body_bytes
        )

    @staticmethod
    async def _refuse(scope: dict, receive: Any, send: Any, refusal: e.CoraError) -> None:
        await respond(refusal)(scope, receive, send)
