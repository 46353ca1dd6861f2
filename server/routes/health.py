"""Health: for load balancers and deployment checks; needs no token."""

from __future__ import annotations

from fastapi import APIRouter, Request

import cora_bluesky
from cora_bluesky.server.errors import responses
from cora_bluesky.application.responses import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, responses=responses(authenticated=False))
def health(request: Request) -> dict[str, str]:
    """``ok`` when the record's store answers a query."""
    request.app.state.record.list_clearance_form_types()
    return {"status": "ok", "version": cora_bluesky.__version__}
