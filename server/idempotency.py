"""The Idempotency-Key pattern: a retried command answers as it did the first time.

A key is scoped to the principal that sent it. The first request claims it; its response is
kept once it succeeds, and a refused request releases the key so that the same command can be
sent again once the reason is fixed (a clearance activated, a hutch secured). The events a
keyed command writes carry a correlation id derived from the key, and a keyed create gets an id
derived from it too, so a claim left behind by a crashed server is resolved by looking at the
record rather than by guessing.

Keys belong to this adapter, not to the record: they are kept in the
:class:`~cora_bluesky.application.ports.IdempotencyKeys` that :func:`create_app` was given
(``app.state.keys``).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import timedelta
from typing import Any, Callable

from fastapi import Request
from fastapi.encoders import jsonable_encoder

from cora_bluesky.application.codec import parse_timestamp, timestamp
from cora_bluesky.application.ports import IdempotencyKeys
from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e

HEADER = "Idempotency-Key"
#: a key's bounds, as every surface declares them: 1-200 printable ASCII characters
KEY_CONSTRAINTS = {"min_length": 1, "max_length": 200, "pattern": r"^[\x21-\x7e]+$"}
_KEY = re.compile(r"[\x21-\x7e]{1,200}")
_NAMESPACE = uuid.UUID("6c1f4d0e-3f5a-4b7e-9a42-2c7d0b9e8f11")
#: A claim with no response after this long belongs to a request that will never answer.
ABANDONED_AFTER = timedelta(seconds=60)

Outcome = tuple[int, Any]


def scoped_key(principal: str, key: str) -> str:
    """What the store keeps for ``key`` sent by ``principal``: keys of two callers never meet."""
    return hashlib.sha256(f"{principal}\n{key}".encode()).hexdigest()


def derived_id(scoped: str) -> str:
    """The id a keyed create gives its aggregate, so that a retry cannot create a second."""
    return str(uuid.uuid5(_NAMESPACE, scoped))


def derived_correlation(scoped: str) -> str:
    """The correlation id on every event a keyed command writes."""
    return str(uuid.uuid5(_NAMESPACE, "correlation:" + scoped))


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """What makes two requests the same command: method, path and validated body."""
    canonical = json.dumps({"method": method, "path": path, "body": jsonable_encoder(body)}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Keyed:
    """One call's idempotency key, scoped to its principal (``None`` when none was sent).

    Parameters
    ----------
    raw
        The key as the caller sent it (a header over HTTP, an argument over MCP).
    what
        The call, as an error message names it (``POST /runs``, ``start_run``).
    """

    def __init__(self, raw: str | None, record: Record, *, required: bool, what: str) -> None:
        self.scoped: str | None = None
        if raw is None:
            if required:
                raise e.IdempotencyKeyRequiredError(f"{what} needs an {HEADER} (a fresh UUID per command)")
            return
        if not isinstance(raw, str) or not _KEY.fullmatch(raw):
            raise e.InvalidIdempotencyKeyError(f"{HEADER} must be 1-200 printable ASCII characters")
        self.scoped = scoped_key(record.principal, raw)

    @classmethod
    def of(cls, request: Request, record: Record, *, required: bool) -> "Keyed":
        """The key of an HTTP request, from its header."""
        what = f"{request.method} {request.url.path}"
        return cls(request.headers.get(HEADER), record, required=required, what=what)

    def derived_id(self) -> str | None:
        return None if self.scoped is None else derived_id(self.scoped)

    @property
    def correlation_id(self) -> str | None:
        return None if self.scoped is None else derived_correlation(self.scoped)


def once(
    call: tuple[str, str],
    record: Record,
    keyed: Keyed,
    body: Any,
    act: Callable[[Record], Outcome],
    *,
    keys: IdempotencyKeys,
    kind: str,
    aggregate_id: str,
    replay: Callable[[Record], Outcome],
) -> tuple[int, Any, bool]:
    """Perform ``act`` once per key, on any surface.

    Parameters
    ----------
    call
        What makes two calls the same command besides their body: (method, path) over HTTP,
        (``"tool"``, tool name) over MCP.
    body
        The validated request body: the same key with a different body is refused.
    keys
        Where the surface keeps its keys (the record's own store unless told otherwise).
    act
        Performs the command on the record and returns ``(status, payload)``.
    kind, aggregate_id
        The aggregate the command writes to, whose history tells whether an abandoned claim's
        write landed.
    replay
        Rebuilds ``(status, payload)`` from the record, for a command whose write landed but
        whose response was never kept.

    Returns
    -------
    tuple
        ``(status, JSON-ready payload, whether it is a replay)``.
    """
    if keyed.scoped is None:
        status, payload = act(record)
        return status, jsonable_encoder(payload), False
    fingerprint = request_fingerprint(*call, body)
    bound = record.bound(correlation_id=keyed.correlation_id)
    now = record.now()
    earlier = keys.claim_key(keyed.scoped, fingerprint, timestamp(now))
    if earlier is not None:
        if earlier["fingerprint"] != fingerprint:
            raise e.IdempotencyKeyReusedError(
                f"this {HEADER} was already used for a different request; send a new key for a new command"
            )
        if earlier["response"] is not None:
            return earlier["response"]["status"], earlier["response"]["body"], True
        if now - parse_timestamp(earlier["claimed_at"]) < ABANDONED_AFTER:
            raise e.IdempotencyKeyInProgressError(
                f"the first request with this {HEADER} is still running; retry in a few seconds"
            )
        # abandoned: the record says whether its write landed
        history = record.history(kind, aggregate_id)
        if any(event.correlation_id == keyed.correlation_id for event in history):
            status, payload = replay(bound)
            return _settle(keys, keyed, status, payload)
        keys.release_key(keyed.scoped)
        if keys.claim_key(keyed.scoped, fingerprint, timestamp(now)) is not None:
            raise e.IdempotencyKeyInProgressError(f"another retry with this {HEADER} is running")
    try:
        status, payload = act(bound)
    except BaseException:
        keys.release_key(keyed.scoped)
        raise
    return _settle(keys, keyed, status, payload)


def _settle(keys: IdempotencyKeys, keyed: Keyed, status: int, payload: Any) -> tuple[int, Any, bool]:
    encoded = jsonable_encoder(payload)
    keys.settle_key(keyed.scoped, {"status": status, "body": encoded})
    return status, encoded, False
