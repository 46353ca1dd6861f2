"""What the record answers over its edges: one model per response, apart from domain states.

A domain state may grow fields the record needs internally; only what a model here names is
served, over HTTP and MCP alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class ExternalRefOut(BaseModel):
    scheme: str
    id: str


class DatasetOut(BaseModel):
    start_uid: str
    uri: str
    scan_id: int | None = None
    #: SHA-256 of the run's documents in ``canonical_form``, once the run ended
    digest: str | None = None
    canonical_form: str | None = None
    documents: int | None = None


class ImportedOut(BaseModel):
    source: str
    bluesky_plan: str | None
    imported_at: datetime


class RunOut(BaseModel):
    id: str
    name: str
    #: ``None`` only for an imported run whose Bluesky plan no CORA Plan answers to
    plan_id: str | None
    method_id: str | None
    subject_id: str | None
    raid: str | None
    status: str
    asset_ids: list[str]
    override_parameters: dict[str, Any]
    effective_parameters: dict[str, Any]
    triggered_by: str | None
    external_refs: list[ExternalRefOut]
    campaign_id: str | None
    pinned_calibrations: list[str]
    created_at: datetime
    updated_at: datetime
    reading_logbook_id: str | None = None
    adjustment_count: int = 0
    last_adjusted_at: datetime | None = None
    last_reason: str | None = None
    interrupted_at: datetime | None = None
    datasets: list[DatasetOut] = []
    summary: dict[str, Any] | None = None
    #: holds so far, the time spent held (seconds) and, while held, since when
    hold_count: int = 0
    time_held: float = 0.0
    held_since: datetime | None = None
    #: the Active clearances that covered the run when it started
    clearance_ids: list[str] = []
    #: where an imported run was read from (it was never gated); ``None`` for a recorded run
    imported: ImportedOut | None = None


class ProcedureOut(BaseModel):
    id: str
    name: str
    kind: str
    target_asset_ids: list[str]
    parent_run_id: str | None
    capability_id: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    steps_logbook_id: str | None = None
    last_status_changed_at: datetime | None = None
    last_status_reason: str | None = None
    interrupted_at: datetime | None = None


class ClearanceOut(BaseModel):
    id: str
    form_type: str
    title: str
    hazards: list[str]
    run_ids: list[str]
    subject_ids: list[str]
    asset_ids: list[str]
    valid_from: datetime | None
    valid_until: datetime | None
    status: str
    created_at: datetime
    updated_at: datetime
    last_reason: str | None = None
    superseded_by: str | None = None
    form_number: str | None = None


class EnclosureOut(BaseModel):
    id: str
    name: str
    secured_pv: str
    shutter_pvs: list[str]
    created_at: datetime
    updated_at: datetime


class AssetOut(BaseModel):
    id: str
    name: str
    family: str
    parent_id: str | None
    enclosure_id: str | None
    device_names: list[str]
    status: str
    created_at: datetime
    updated_at: datetime


class SubjectOut(BaseModel):
    id: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime


class MethodOut(BaseModel):
    id: str
    name: str
    parameters_schema: dict[str, Any] | None
    needed_families: list[str]
    created_at: datetime
    updated_at: datetime


class PlanOut(BaseModel):
    id: str
    name: str
    method_id: str
    default_parameters: dict[str, Any]
    asset_ids: list[str]
    status: str
    created_at: datetime
    updated_at: datetime
    bluesky_names: list[str] = []


class CalibrationSourceOut(BaseModel):
    kind: str
    ref: str
    checksum: str | None = None


class CalibrationOut(BaseModel):
    id: str
    asset_id: str
    quantity: str
    value: float
    units: str | None
    source: CalibrationSourceOut
    created_at: datetime
    updated_at: datetime


class RunStartedOut(BaseModel):
    run_id: str
    status: str
    effective_parameters: dict[str, Any]
    pinned_calibrations: list[str]


class LogbookRowOut(BaseModel):
    """What every logbook row carries besides its payload: its audit trail and three times."""

    event_id: str
    logbook_id: str
    actor_id: str
    command_name: str
    correlation_id: str
    causation_id: str | None = None
    #: when it happened in the field, when the record took it, when the store wrote it
    sampled_at: datetime
    occurred_at: datetime
    recorded_at: datetime


class ReadingOut(LogbookRowOut):
    run_id: str
    channel_name: str
    value: float
    units: str | None = None
    sampling_procedure: str


class StepOut(LogbookRowOut):
    procedure_id: str
    step_kind: str
    payload: dict[str, Any]


class EventCountOut(BaseModel):
    event_count: int


class ProcedureRegisteredOut(BaseModel):
    procedure_id: str


class FormTypeOut(BaseModel):
    code: str
    facility: str
    name: str


class TokenOut(BaseModel):
    id: str
    principal: str
    role: str
    status: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None


class PrincipalOut(BaseModel):
    id: str
    roles: list[str]
    created_at: datetime
    updated_at: datetime


class TokenIssuedOut(TokenOut):
    #: shown once; the record keeps only its hash
    token: str


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    #: pass back as ``cursor`` for the next page; absent on the last page
    next: str | None = None


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
