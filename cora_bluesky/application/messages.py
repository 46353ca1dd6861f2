"""Request bodies, with the spec's bounds: what the record takes in over its edges.

These are the edge's copy of the record's checks, derived from the field rules the domain
declares (:mod:`cora_bluesky.domain.rules`); the core refuses the same values again. A field
that fails here answers with the spec's error name it declares as ``x-error``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from cora_bluesky.domain import rules
from cora_bluesky.domain.rules import ID_LENGTH, WHITESPACE, ChoiceRule, Rule, TextRule
from cora_bluesky.domain.values import unreadable

#: the validation error type of text that would not read back; a field with no refusal of its
#: own answers ``InvalidText`` for it
INVALID_TEXT = "invalid_text"

#: The most ids a list in a body may carry.
MAX_IDS = 1000


def named(error: str | Rule, **constraints: Any) -> Any:
    """A field whose boundary refusal is the spec's ``error`` (a name, or the rule's error)."""
    name = error if isinstance(error, str) else error.name
    return Field(json_schema_extra={"x-error": name}, **constraints)


#: Text the record keeps holds something besides whitespace, and never NUL characters.
NOT_BLANK = f"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
#: No whitespace at all, and no NUL.
NO_SPACE = f"^[^\x00{WHITESPACE}]+$"


def _trimmed(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def Text(rule: TextRule) -> Any:  # noqa: N802 - reads as a type in annotations
    """The request model's copy of a text rule: trimmed as the record trims, then bounded.

    The OpenAPI document states the bounds of the trimmed text, as the spec does.
    """
    constraints = StringConstraints(
        min_length=rule.low, max_length=rule.high, pattern=NOT_BLANK if rule.spaced else NO_SPACE
    )
    # the validator after the constraints wraps them: it runs first
    return Annotated[str, constraints, BeforeValidator(_trimmed)]


def Choice(rule: ChoiceRule) -> Any:  # noqa: N802 - reads as a type in annotations
    """The request model's copy of a closed set of values."""
    return Literal[rule.allowed]


Id = Annotated[str, StringConstraints(min_length=1, max_length=ID_LENGTH, pattern=r"^[\x21-\x7e]+$")]


def _distinct(items: list[str]) -> list[str]:
    if len({item.strip() for item in items}) != len(items):
        raise ValueError("lists an item twice")
    return items


def Texts(rule: TextRule, most: int) -> Any:  # noqa: N802 - reads as a type in annotations
    """A list of at most ``most`` distinct texts, each as :func:`Text`."""
    return Annotated[
        list[Text(rule)],
        Field(max_length=most, json_schema_extra={"uniqueItems": True}),
        AfterValidator(_distinct),
    ]


Ids = Annotated[list[Id], Field(max_length=MAX_IDS, json_schema_extra={"uniqueItems": True}), AfterValidator(_distinct)]
#: a number and nothing else: ``true`` or ``"1.5"`` is not a value (strict refuses coercion)
FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _reads_back(cls, value: Any) -> Any:
        """Every field, of every body: no text in it (JSON values and keys included) that the
        record could not read back. The record refuses the same in its core."""
        problem = unreadable(value)
        if problem:
            raise PydanticCustomError(INVALID_TEXT, "text the record cannot keep: {problem}", {"problem": problem})
        return value


class ExternalRefIn(Body):
    scheme: Text(rules.EXTERNAL_REF_SCHEME)
    id: Text(rules.EXTERNAL_REF_ID)


class StartRunIn(Body):
    name: Text(rules.RUN_NAME) = named(rules.RUN_NAME)
    plan_id: Id
    subject_id: Id | None = None
    override_parameters: dict[str, Any] = named("InvalidRunParameters", default_factory=dict)
    asset_ids: Ids = Field(default_factory=list)
    pinned_calibrations: Ids | None = named("InvalidPinnedCalibrations", default=None)
    triggered_by: Text(rules.RUN_TRIGGERED_BY) | None = named(rules.RUN_TRIGGERED_BY, default=None)
    external_refs: Annotated[list[ExternalRefIn], Field(max_length=100)] = named(
        "InvalidRunExternalRef", default_factory=list
    )
    raid: Text(rules.RUN_RAID) | None = named(rules.RUN_RAID, default=None)
    campaign_id: Text(rules.RUN_CAMPAIGN_ID) | None = named(rules.RUN_CAMPAIGN_ID, default=None)


class AbortRunIn(Body):
    reason: Text(rules.RUN_ABORT_REASON) = named(rules.RUN_ABORT_REASON)


class StopRunIn(Body):
    reason: Text(rules.RUN_STOP_REASON) = named(rules.RUN_STOP_REASON)


class TruncateRunIn(Body):
    reason: Text(rules.RUN_TRUNCATE_REASON) = named(rules.RUN_TRUNCATE_REASON)
    interrupted_at: AwareDatetime | None = named("InvalidRunInterruptedAt", default=None)


class AdjustRunIn(Body):
    parameter_patch: Annotated[dict[str, Any], Field(min_length=1)] = named("InvalidRunAdjustPatch")
    reason: Text(rules.RUN_ADJUST_REASON) = named(rules.RUN_ADJUST_REASON)
    decided_by_decision_id: Text(rules.RUN_DECISION_ID) | None = named(rules.RUN_DECISION_ID, default=None)


class ReadingIn(Body):
    channel_name: Text(rules.CHANNEL_NAME) = named(rules.CHANNEL_NAME)
    value: FiniteFloat = named("InvalidReadingValue")
    units: Text(rules.READING_UNITS) | None = named(rules.READING_UNITS, default=None)
    sampling_procedure: Choice(rules.SAMPLING_PROCEDURE) = named(rules.SAMPLING_PROCEDURE)
    sampled_at: AwareDatetime = named("InvalidReadingSampledAt")
    event_id: Text(rules.ENTRY_ID) | None = named(rules.ENTRY_ID, default=None)


class RegisterProcedureIn(Body):
    name: Text(rules.PROCEDURE_NAME) = named(rules.PROCEDURE_NAME)
    kind: Text(rules.PROCEDURE_KIND) = named(rules.PROCEDURE_KIND)
    target_asset_ids: Ids = Field(default_factory=list)
    parent_run_id: Id | None = None
    capability_id: Id | None = None


class AbortProcedureIn(Body):
    reason: Text(rules.PROCEDURE_ABORT_REASON) = named(rules.PROCEDURE_ABORT_REASON)


class TruncateProcedureIn(Body):
    reason: Text(rules.PROCEDURE_TRUNCATE_REASON) = named(rules.PROCEDURE_TRUNCATE_REASON)
    interrupted_at: AwareDatetime | None = named("InvalidProcedureInterruptedAt", default=None)


class StepIn(Body):
    event_id: Text(rules.ENTRY_ID) = named(rules.ENTRY_ID)
    step_kind: Choice(rules.STEP_KIND) = named(rules.STEP_KIND)
    payload: dict[str, Any] = named("InvalidStepPayload")
    sampled_at: AwareDatetime = named("InvalidStepSampledAt")


class StepsIn(Body):
    entries: Annotated[list[StepIn], Field(min_length=1, max_length=1000)]


class RegisterClearanceIn(Body):
    form_type: Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=NOT_BLANK)]
    title: Text(rules.CLEARANCE_TITLE) = named(rules.CLEARANCE_TITLE)
    run_ids: Ids = named("InvalidClearanceBindings", default_factory=list)
    subject_ids: Ids = named("InvalidClearanceBindings", default_factory=list)
    asset_ids: Ids = named("InvalidClearanceBindings", default_factory=list)
    hazards: Texts(rules.CLEARANCE_HAZARDS, 100) = named(rules.CLEARANCE_HAZARDS, default_factory=list)
    valid_from: AwareDatetime | None = named("InvalidClearanceWindow", default=None)
    valid_until: AwareDatetime | None = named("InvalidClearanceWindow", default=None)
    form_number: Text(rules.CLEARANCE_FORM_NUMBER) | None = named(rules.CLEARANCE_FORM_NUMBER, default=None)


class BindClearanceIn(Body):
    run_ids: Ids = named("InvalidClearanceBindings", default_factory=list)
    subject_ids: Ids = named("InvalidClearanceBindings", default_factory=list)
    asset_ids: Ids = named("InvalidClearanceBindings", default_factory=list)


class ClearanceReasonIn(Body):
    reason: Text(rules.CLEARANCE_REASON) = named(rules.CLEARANCE_REASON)


class SupersedeClearanceIn(ClearanceReasonIn):
    superseded_by: Id | None = None


class RegisterEnclosureIn(Body):
    name: Text(rules.ENCLOSURE_NAME) = named(rules.ENCLOSURE_NAME)
    secured_pv: Text(rules.ENCLOSURE_PV) = named(rules.ENCLOSURE_PV)
    shutter_pvs: Texts(rules.ENCLOSURE_PV, 20) = named(rules.ENCLOSURE_PV, default_factory=list)


class RegisterAssetIn(Body):
    name: Text(rules.ASSET_NAME) = named(rules.ASSET_NAME)
    family: Text(rules.ASSET_FAMILY) = named(rules.ASSET_FAMILY)
    parent_id: Id | None = None
    enclosure_id: Id | None = None
    device_names: Texts(rules.ASSET_DEVICE_NAMES, 100) = named(rules.ASSET_DEVICE_NAMES, default_factory=list)


class MoveAssetIn(Body):
    parent_id: Id | None = None
    enclosure_id: Id | None = None


class ChangeEnclosurePvsIn(Body):
    secured_pv: Text(rules.ENCLOSURE_PV) = named(rules.ENCLOSURE_PV)
    shutter_pvs: Texts(rules.ENCLOSURE_PV, 20) = named(rules.ENCLOSURE_PV, default_factory=list)


class ChangeAssetDevicesIn(Body):
    device_names: Texts(rules.ASSET_DEVICE_NAMES, 100) = named(rules.ASSET_DEVICE_NAMES, default_factory=list)


class ChangeAssetFamilyIn(Body):
    family: Text(rules.ASSET_FAMILY) = named(rules.ASSET_FAMILY)


class RegisterSubjectIn(Body):
    name: Text(rules.SUBJECT_NAME) = named(rules.SUBJECT_NAME)


class RegisterMethodIn(Body):
    name: Text(rules.METHOD_NAME) = named(rules.METHOD_NAME)
    parameters_schema: dict[str, Any] | None = named("InvalidMethodSchema", default=None)
    needed_families: Texts(rules.METHOD_FAMILIES, 100) = named(rules.METHOD_FAMILIES, default_factory=list)


class RegisterPlanIn(Body):
    name: Text(rules.PLAN_NAME) = named(rules.PLAN_NAME)
    method_id: Id
    default_parameters: dict[str, Any] = named("InvalidPlanParameters", default_factory=dict)
    asset_ids: Ids = Field(default_factory=list)
    bluesky_names: Texts(rules.PLAN_BLUESKY_NAMES, 100) = named(rules.PLAN_BLUESKY_NAMES, default_factory=list)


class RevisePlanIn(Body):
    default_parameters: dict[str, Any] = named("InvalidPlanParameters", default_factory=dict)
    asset_ids: Ids = Field(default_factory=list)
    bluesky_names: Texts(rules.PLAN_BLUESKY_NAMES, 100) = named(rules.PLAN_BLUESKY_NAMES, default_factory=list)


class ReviseMethodIn(Body):
    parameters_schema: dict[str, Any] | None = named("InvalidMethodSchema", default=None)
    needed_families: Texts(rules.METHOD_FAMILIES, 100) = named(rules.METHOD_FAMILIES, default_factory=list)


class CalibrationSourceIn(Body):
    kind: Literal["procedure", "dataset", "asserted"]
    #: the procedure id, the dataset URI or the person asserting the value
    ref: Text(rules.CALIBRATION_SOURCE_REF)
    checksum: Text(rules.CALIBRATION_CHECKSUM) | None = None


class RecordCalibrationIn(Body):
    asset_id: Id
    quantity: Text(rules.CALIBRATION_QUANTITY) = named(rules.CALIBRATION_QUANTITY)
    value: FiniteFloat = named("InvalidCalibrationValue")
    units: Text(rules.CALIBRATION_UNITS) | None = named(rules.CALIBRATION_UNITS, default=None)
    source: CalibrationSourceIn = named("InvalidCalibrationSource")


class IssueTokenIn(Body):
    principal: Text(rules.TOKEN_PRINCIPAL) = named(rules.TOKEN_PRINCIPAL)
    role: Literal["viewer", "operator", "safety", "admin"] = named("InvalidTokenRole")
    expires_at: AwareDatetime | None = named("InvalidTokenExpiry", default=None)


Role = Literal["viewer", "operator", "safety", "admin"]
PrincipalName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")]
Roles = Annotated[list[Role], Field(max_length=4, json_schema_extra={"uniqueItems": True})]


class RegisterPrincipalIn(Body):
    principal_id: PrincipalName = named("InvalidPrincipalName")
    roles: Roles = named("InvalidPrincipalRoles", default_factory=list)


class PrincipalRolesIn(Body):
    roles: Roles = named("InvalidPrincipalRoles")
