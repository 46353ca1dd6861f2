"""Recipe: Methods (what a technique needs and accepts) and Plans (how a beamline runs it)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Callable, Mapping

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.rules import ASSET_IDS, METHOD_FAMILIES, METHOD_NAME, PLAN_BLUESKY_NAMES, PLAN_NAME
from cora_bluesky.domain.values import At, json_object


class PlanStatus(StrEnum):
    ACTIVE = "Active"
    DEPRECATED = "Deprecated"


@dataclass(frozen=True)
class MethodState:
    id: str
    name: str
    parameters_schema: Mapping[str, Any] | None
    needed_families: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PlanState:
    id: str
    name: str
    method_id: str
    default_parameters: Mapping[str, Any]
    asset_ids: tuple[str, ...]
    status: PlanStatus
    created_at: datetime
    updated_at: datetime
    #: Further Bluesky plan names or ``fnmatch`` patterns this plan answers to (``"*scan"``).
    bluesky_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegisterMethod:
    method_id: str
    name: str
    parameters_schema: Mapping[str, Any] | None = None
    needed_families: tuple[str, ...] = ()


@dataclass(frozen=True)
class MethodRegistered:
    method_id: str
    name: str
    parameters_schema: Mapping[str, Any] | None
    needed_families: tuple[str, ...]
    occurred_at: datetime


@dataclass(frozen=True)
class ReviseMethod:
    """Give a method another parameter schema or other needed families."""

    method_id: str
    parameters_schema: Mapping[str, Any] | None
    needed_families: tuple[str, ...] = ()


@dataclass(frozen=True)
class MethodRevised:
    method_id: str
    parameters_schema: Mapping[str, Any] | None
    needed_families: tuple[str, ...]
    occurred_at: datetime


@dataclass(frozen=True)
class RegisterPlan:
    plan_id: str
    name: str
    method_id: str
    default_parameters: Mapping[str, Any]
    asset_ids: tuple[str, ...] = ()
    bluesky_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class RevisePlan:
    """Give an Active plan other defaults, assets or Bluesky names; its method stays."""

    plan_id: str
    default_parameters: Mapping[str, Any]
    asset_ids: tuple[str, ...] = ()
    bluesky_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeprecatePlan:
    plan_id: str


@dataclass(frozen=True)
class PlanRegistered:
    plan_id: str
    name: str
    method_id: str
    default_parameters: Mapping[str, Any]
    asset_ids: tuple[str, ...]
    occurred_at: datetime
    bluesky_names: tuple[str, ...] = ()  # after occurred_at: events recorded before it lack it


@dataclass(frozen=True)
class PlanRevised:
    plan_id: str
    default_parameters: Mapping[str, Any]
    asset_ids: tuple[str, ...]
    bluesky_names: tuple[str, ...]
    occurred_at: datetime


@dataclass(frozen=True)
class PlanDeprecated:
    plan_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class MethodContext(At):
    names_taken: frozenset[str]
    #: Returns the problems with a proposed schema (empty when it is a valid JSON Schema).
    schema_problems: Callable[[Mapping[str, Any]], tuple[str, ...]]


@dataclass(frozen=True)
class PlanContext(At):
    #: Names of Active plans: a deprecated plan's name is free for the plan replacing it.
    names_taken: frozenset[str]
    method: MethodState | None
    known_asset_ids: frozenset[str]


@dataclass(frozen=True)
class ReviseMethodContext(At):
    schema_problems: Callable[[Mapping[str, Any]], tuple[str, ...]]


@dataclass(frozen=True)
class RevisePlanContext(At):
    known_asset_ids: frozenset[str]


initial_state = None

#: Commands a plan refuses in each status, with the refusal. A deprecated plan is history:
#: a plan replacing it registers under the same name instead.
PLAN_REFUSALS: Mapping[PlanStatus, Mapping[type, type[e.CoraError]]] = {
    PlanStatus.ACTIVE: {},
    PlanStatus.DEPRECATED: {DeprecatePlan: e.PlanCannotDeprecateError, RevisePlan: e.PlanCannotReviseError},
}


def is_terminal(state: PlanState | MethodState | None) -> bool:
    return isinstance(state, PlanState) and state.status is PlanStatus.DEPRECATED


def decide_method(command: RegisterMethod, state: MethodState | None, ctx: MethodContext) -> tuple:
    """Register a method; its schema, when given, must be a valid JSON Schema object."""
    if not isinstance(command, RegisterMethod):
        raise TypeError(f"not a method command: {command!r}")
    if state is not None:
        raise e.MethodAlreadyExistsError(
            f"method {command.method_id} already exists", method_id=command.method_id
        )
    name = METHOD_NAME.check(command.name)
    if name in ctx.names_taken:
        raise e.MethodAlreadyExistsError(f"a method named {name!r} exists", name=name)
    schema, families = _method_fields(command, ctx.schema_problems)
    return (MethodRegistered(command.method_id, name, schema, families, ctx.now),)


def _method_fields(command: RegisterMethod | ReviseMethod, schema_problems) -> tuple:
    schema = None
    if command.parameters_schema is not None:
        schema = json_object(
            command.parameters_schema, e.InvalidMethodSchemaError, what="parameters_schema"
        )
        problems = schema_problems(schema)
        if problems:
            raise e.InvalidMethodSchemaError(
                f"parameters_schema is not a valid JSON Schema: {problems[0]}",
                problems=list(problems),
            )
    families = METHOD_FAMILIES.check_each(command.needed_families)
    return schema, families


def decide_method_revision(command: ReviseMethod, state: MethodState | None, ctx: ReviseMethodContext) -> tuple:
    """Revise a method's schema or needed families; an unchanged method records nothing."""
    if state is None:
        raise e.MethodNotFoundError(f"no method {command.method_id}", method_id=command.method_id)
    schema, families = _method_fields(command, ctx.schema_problems)
    if (schema, families) == (state.parameters_schema, state.needed_families):
        return ()
    return (MethodRevised(state.id, schema, families, ctx.now),)


def evolve_method(state: MethodState | None, event: MethodRegistered | MethodRevised) -> MethodState:
    if isinstance(event, MethodRevised):
        assert state is not None
        return replace(
            state,
            parameters_schema=event.parameters_schema,
            needed_families=event.needed_families,
            updated_at=event.occurred_at,
        )
    return MethodState(
        id=event.method_id,
        name=event.name,
        parameters_schema=event.parameters_schema,
        needed_families=event.needed_families,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
    )


def decide_plan(command, state: PlanState | None, ctx: At) -> tuple:
    """Register or deprecate a plan."""
    if isinstance(command, RegisterPlan):
        if state is not None:
            raise e.PlanAlreadyExistsError(
                f"plan {command.plan_id} already exists", plan_id=command.plan_id
            )
        assert isinstance(ctx, PlanContext)
        name = PLAN_NAME.check(command.name)
        if name in ctx.names_taken:
            raise e.PlanAlreadyExistsError(f"a plan named {name!r} exists", name=name)
        if ctx.method is None:
            raise e.MethodNotFoundError(
                f"no method {command.method_id}; register it first", method_id=command.method_id
            )
        defaults, assets, names = _plan_fields(command, ctx.known_asset_ids)
        return (PlanRegistered(command.plan_id, name, ctx.method.id, defaults, assets, ctx.now, names),)
    if state is None:
        raise e.PlanNotFoundError(f"no plan {command.plan_id}", plan_id=command.plan_id)
    refusal = PLAN_REFUSALS[state.status].get(type(command))
    if refusal is not None:
        raise refusal(
            f"plan {state.name} is already deprecated; register a plan under its name to replace it",
            plan_id=state.id,
        )
    if isinstance(command, DeprecatePlan):
        return (PlanDeprecated(state.id, ctx.now),)
    if isinstance(command, RevisePlan):
        assert isinstance(ctx, RevisePlanContext)
        defaults, assets, names = _plan_fields(command, ctx.known_asset_ids)
        if (defaults, assets, names) == (dict(state.default_parameters), state.asset_ids, state.bluesky_names):
            return ()
        return (PlanRevised(state.id, defaults, assets, names, ctx.now),)
    raise TypeError(f"not a plan command: {command!r}")


def _plan_fields(command: RegisterPlan | RevisePlan, known_asset_ids: frozenset[str]) -> tuple:
    defaults = json_object(command.default_parameters, e.InvalidPlanParametersError, what="default_parameters")
    assets = ASSET_IDS.check_each(command.asset_ids)
    unknown = [asset for asset in assets if asset not in known_asset_ids]
    if unknown:
        raise e.AssetNotFoundError(f"no asset {unknown[0]}", asset_id=unknown[0])
    names = PLAN_BLUESKY_NAMES.check_each(command.bluesky_names)
    return dict(defaults), assets, names


def evolve_plan(state: PlanState | None, event) -> PlanState:
    if isinstance(event, PlanRegistered):
        return PlanState(
            id=event.plan_id,
            name=event.name,
            method_id=event.method_id,
            default_parameters=event.default_parameters,
            asset_ids=event.asset_ids,
            status=PlanStatus.ACTIVE,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
            bluesky_names=event.bluesky_names,
        )
    assert state is not None
    if isinstance(event, PlanRevised):
        return replace(
            state,
            default_parameters=event.default_parameters,
            asset_ids=event.asset_ids,
            bluesky_names=event.bluesky_names,
            updated_at=event.occurred_at,
        )
    if isinstance(event, PlanDeprecated):
        return replace(state, status=PlanStatus.DEPRECATED, updated_at=event.occurred_at)
    raise TypeError(f"not a plan event: {event!r}")


METHOD_EVENTS = (MethodRegistered, MethodRevised)
PLAN_EVENTS = (PlanRegistered, PlanDeprecated, PlanRevised)
