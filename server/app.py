"""The record server: the REST slices of the record over one :class:`Record`."""

from __future__ import annotations

from fastapi import FastAPI

import cora_bluesky
from cora_bluesky.application.ports import IdempotencyKeys
from cora_bluesky.application.record import Record
from cora_bluesky.server import docs, errors
from cora_bluesky.server.guard import MAX_BODY_BYTES, BodyGuard
from cora_bluesky.application.slices import MODULES
from cora_bluesky.server.routes import health, slices


def create_app(
    record: Record, *, keys: IdempotencyKeys | None = None, max_body_bytes: int = MAX_BODY_BYTES
) -> FastAPI:
    """Build the HTTP app over ``record``.

    Parameters
    ----------
    record : Record
        The record to serve; its permit source gates ``POST /runs``. Each request acts as the
        principal of its bearer token.
    keys : IdempotencyKeys, optional
        Where the ``Idempotency-Key`` claims and kept responses live. They belong to this
        server, not to the record, but by default they are kept beside the record they guard,
        in the same database (``record.store_as(IdempotencyKeys)``), so that a retry reaching
        another server process over the same record is still recognised. Pass another store
        to keep them elsewhere.
    max_body_bytes : int
        Larger request bodies are refused with 413.

    Returns
    -------
    FastAPI
        An ASGI app; serve it with uvicorn (``cora serve`` does).
    """
    app = FastAPI(
        title="cora-bluesky record",
        version=cora_bluesky.__version__,
        description="The beamline's system of record: runs, procedures, clearances and equipment.",
        docs_url=None,  # served from packaged assets below, not from a CDN
        redoc_url=None,
    )
    docs.install(app)
    app.state.record = record
    app.state.keys = keys if keys is not None else record.store_as(IdempotencyKeys)
    errors.install(app)
    for module in MODULES:
        app.include_router(slices.router(module))
    app.include_router(health.router)
    app.add_middleware(BodyGuard, max_body_bytes=max_body_bytes)
    return app
