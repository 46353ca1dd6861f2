"""Recipes: the Methods a beamline practises and the Plans that run them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cora_bluesky.application.aggregates import METHOD, PLAN
from cora_bluesky.application.codec import encode
from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.recipe import MethodState, PlanState
from cora_bluesky.server.auth import administrator, reader
from cora_bluesky.server.errors import responses
from cora_bluesky.server.routes.common import Filter, OptionalKey, Paging, PathId, create, page, transition
from cora_bluesky.application.messages import RegisterMethodIn, RegisterPlanIn
from cora_bluesky.application.responses import PageOut

router = APIRouter(tags=["recipes"])


@router.post(
    "/methods",
    status_code=201,
    response_model=MethodState,
    responses=responses(
        e.MethodAlreadyExistsError,
        e.InvalidMethodNameError,
        e.InvalidMethodSchemaError,
        e.InvalidMethodFamiliesError,
        keyed="optional",
    ),
)
def register_method(
    body: RegisterMethodIn, request: Request, idempotency_key: OptionalKey = None, record: Record = administrator
) -> Response:
    """Register a technique: the JSON Schema of its parameters and the asset families it needs."""
    return create(request, record, body, METHOD, "register_method", Record.get_method)


@router.get("/methods", response_model=PageOut[MethodState], responses=responses(e.InvalidCursorError))
def list_methods(paging: Paging, record: Record = reader) -> dict[str, Any]:
    return page(record.list_methods(limit=paging.limit, cursor=paging.cursor))


@router.get("/methods/{method_id}", response_model=MethodState, responses=responses(e.MethodNotFoundError))
def get_method(method_id: PathId, record: Record = reader) -> dict[str, Any]:
    return encode(record.get_method(method_id))


@router.post(
    "/plans",
    status_code=201,
    response_model=PlanState,
    responses=responses(
        e.PlanAlreadyExistsError,
        e.MethodNotFoundError,
        e.AssetNotFoundError,
        e.InvalidPlanNameError,
        e.InvalidPlanParametersError,
        e.InvalidRunParametersError,
        keyed="optional",
    ),
)
def register_plan(
    body: RegisterPlanIn, request: Request, idempotency_key: OptionalKey = None, record: Record = administrator
) -> Response:
    """Register how this beamline runs a Method; ``name`` is the Bluesky plan's name."""
    return create(request, record, body, PLAN, "register_plan", Record.get_plan)


@router.get(
    "/plans", response_model=PageOut[PlanState], responses=responses(e.InvalidCursorError, e.InvalidListQueryError)
)
def list_plans(paging: Paging, status: Filter = None, record: Record = reader) -> dict[str, Any]:
    return page(record.list_plans(status=status, limit=paging.limit, cursor=paging.cursor))


@router.get("/plans/{plan_id}", response_model=PlanState, responses=responses(e.PlanNotFoundError))
def get_plan(plan_id: PathId, record: Record = reader) -> dict[str, Any]:
    return encode(record.get_plan(plan_id))


transition(
    router,
    "/plans/{plan_id}/deprecate",
    "deprecate_plan",
    administrator,
    PlanState,
    (e.PlanNotFoundError, e.PlanCannotDeprecateError),
    "Retire a plan: it starts no more runs.",
)
