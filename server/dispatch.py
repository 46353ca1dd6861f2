"""Performing a slice the same way on every surface: the call, its key, its answer."""

from __future__ import annotations

from typing import Any, Mapping

from cora_bluesky.application.ports import IdempotencyKeys
from cora_bluesky.application.record import Record
from cora_bluesky.application.slices import Category, Slice, answer, call
from cora_bluesky.server import idempotency


def perform(
    record: Record,
    row: Slice,
    arguments: Mapping[str, Any],
    *,
    keyed: idempotency.Keyed | None,
    keys: IdempotencyKeys | None = None,
    called: tuple[str, str],
    body: Any,
) -> tuple[int, Any, bool]:
    """Perform ``row`` with ``arguments`` for the principal ``record`` is bound to.

    Parameters
    ----------
    keyed
        The call's idempotency key, for rows that take one; ``None`` for rows that do not.
    keys
        Where the surface keeps its keys, for rows that take one.
    called
        What identifies the call besides its body (HTTP method and path, or the MCP tool).
    body
        The validated body: a key sent again with another body is refused.

    Returns
    -------
    tuple
        ``(status, JSON-ready answer, whether it replays an earlier answer)``.
    """
    if keyed is None:
        return row.status_code, answer(row, call(record, row, arguments)), False
    arguments = dict(arguments)
    if row.category is Category.NEW:
        # a keyed create gets the id its key derives, so that a retry cannot create a second
        aggregate_id = keyed.derived_id()
        arguments[f"{row.aggregate.kind}_id"] = aggregate_id
    else:
        aggregate_id = arguments[row.path_params[0]]

    def act(bound: Record) -> tuple[int, Any]:
        return row.status_code, answer(row, call(bound, row, arguments))

    def replay(bound: Record) -> tuple[int, Any]:
        return row.status_code, answer(row, getattr(bound, f"get_{row.aggregate.kind}")(aggregate_id))

    return idempotency.once(
        called, record, keyed, body, act, keys=keys, kind=row.aggregate.kind, aggregate_id=aggregate_id or "",
        replay=replay,
    )
