"""Request bodies, with the spec's bounds: what the record takes in over its edges.

These are the edge's copy of the record's checks: the core refuses the same values again.
A field that fails here answers with the spec's error name it declares as ``x-error``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from pydantic_core import PydanticCustomError

from cora_bluesky.domain.values import unreadable

#: the validation error type of text that would not read back; a field with no refusal of its
#: own answers ``InvalidText`` for it
INVALID_TEXT = "invalid_text"

#: The most ids a list in a body may carry.
MAX_IDS = 1000


def named(error: str, **constraints: Any) -> Any:
    """A field whose boundary refusal is the spec's ``error``."""
    return Field(json_schema_extra={"x-error": error}, **constraints)


def Text(high: int) -> Any:  # noqa: N802 - reads as a type in annotations
    """Text the record trims, then bounds: here it must hold something besides whitespace.

    The bound applies to the text as sent, so that the OpenAPI document states exactly what is
    accepted; the record trims it.
    """
    return StringConstraints(min_length=1, max_length=high, pattern=NOT_BLANK)


#: Text the record keeps never holds NUL characters.
NO_NUL = "^[^\x00]*$"
# What Python's str.strip() removes, spelled out: regex engines disagree on what \s means.
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
NOT_BLANK = f"^[^\x00]*[^\x00{_WHITESPACE}][^\x00]*$"
Id = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]


def _distinct(items: list[str]) -> list[str]:
    if len({item.strip() for item in items}) != len(items):
        raise ValueError("lists an item twice")
    return items


def Texts(high: int, most: int) -> Any:  # noqa: N802 - reads as a type in annotations
    """A list of distinct texts, each as :func:`Text`."""
    return Annotated[
        list[Annotated[str, Text(high)]],
        Field(max_length=most, json_schema_extra={"uniqueItems": True}),
        AfterValidator(_distinct),
    ]


#: EPICS PV names: printable ASCII without spaces.
Pv = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]
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
    scheme: Annotated[str, Text(100)]
    id: Annotated[str, Text(200)]


class StartRunIn(Body):
    name: Annotated[str, Text(200)] = named("InvalidRunName")
    plan_id: Id
    subject_id: Id | None = None
    override_parameters: dict[str, Any] = named("InvalidRunParameters", default_factory=dict)
    asset_ids: Ids = Field(default_factory=list)
    pinned_calibrations: Ids | None = named("InvalidPinnedCalibrations", default=None)
    triggered_by: Annotated[str, Text(200)] | None = named("InvalidRunTriggeredBy", default=None)
    external_refs: Annotated[list[ExternalRefIn], Field(max_length=100)] = named(
        "InvalidRunExternalRef", default_factory=list
    )
    raid: Annotated[str, Text(255)] | None = named("InvalidRunRaid", default=None)
    campaign_id: Annotated[str, Text(100)] | None = named("InvalidRunCampaignId", default=None)


class AbortRunIn(Body):
    reason: Annotated[str, Text(500)] = named("InvalidRunAbortReason")


class StopRunIn(Body):
    reason: Annotated[str, Text(500)] = named("InvalidRunStopReason")


class TruncateRunIn(Body):
    reason: Annotated[str, Text(500)] = named("InvalidRunTruncateReason")
    interrupted_at: AwareDatetime | None = named("InvalidRunInterruptedAt", default=None)


class AdjustRunIn(Body):
    parameter_patch: Annotated[dict[str, Any], Field(min_length=1)] = named("InvalidRunAdjustPatch")
    reason: Annotated[str, Text(500)] = named("InvalidRunAdjustReason")
    decided_by_decision_id: Annotated[str, Text(200)] | None = named("InvalidRunDecisionId", default=None)


class ReadingIn(Body):
    channel_name: Annotated[str, Text(255)] = named("InvalidChannelName")
    value: FiniteFloat = named("InvalidReadingValue")
    units: Annotated[str, StringConstraints(max_length=64, pattern=NO_NUL)] | None = named(
        "InvalidReadingUnits", default=None
    )
    sampling_procedure: Annotated[str, Text(50)] = named("InvalidSamplingProcedure")
    sampled_at: AwareDatetime = named("InvalidReadingSampledAt")
    event_id: Annotated[str, Text(100)] | None = named("InvalidEntryId", default=None)


class RegisterProcedureIn(Body):
    name: Annotated[str, Text(200)] = named("InvalidProcedureName")
    kind: Annotated[str, Text(50)] = named("InvalidProcedureKind")
    target_asset_ids: Ids = Field(default_factory=list)
    parent_run_id: Id | None = None
    capability_id: Id | None = None


class AbortProcedureIn(Body):
    reason: Annotated[str, Text(500)] = named("InvalidProcedureAbortReason")


class TruncateProcedureIn(Body):
    reason: Annotated[str, Text(500)] = named("InvalidProcedureTruncateReason")
    interrupted_at: AwareDatetime | None = named("InvalidProcedureInterruptedAt", default=None)


class StepIn(Body):
    event_id: Annotated[str, Text(100)] = named("InvalidEntryId")
    step_kind: Literal["setpoint", "action", "check"] = named("InvalidStepKind")
    payload: dict[str, Any] = named("InvalidStepPayload")
    sampled_at: AwareDatetime = named("InvalidStepSampledAt")


class StepsIn(Body):
    entries: Annotated[list[StepIn], Field(min_length=1, max_length=1000)]


class RegisterClearanceIn(Body):
    form_type: Annotated[str, Text(50)]
    title: Annotated[str, Text(200)] = named("InvalidClearanceTitle")
    run_ids: Ids = named("InvalidClearanceBindings", default_factory=list)
    subject_ids: Ids = named("InvalidClearanceBindings", default_factory=list)
    asset_ids: Ids = named("InvalidClearanceBindings", default_factory=list)
    hazards: Texts(200, 100) = named("InvalidClearanceHazards", default_factory=list)
    valid_from: AwareDatetime | None = named("InvalidClearanceWindow", default=None)
    valid_until: AwareDatetime | None = named("InvalidClearanceWindow", default=None)


class BindClearanceIn(Body):
    run_ids: Ids = named("InvalidClearanceBindings", default_factory=list)
    subject_ids: Ids = named("InvalidClearanceBindings", default_factory=list)
    asset_ids: Ids = named("InvalidClearanceBindings", default_factory=list)


class ClearanceReasonIn(Body):
    reason: Annotated[str, Text(500)] = named("InvalidClearanceReason")


class SupersedeClearanceIn(ClearanceReasonIn):
    superseded_by: Id | None = None


class RegisterEnclosureIn(Body):
    name: Annotated[str, Text(100)] = named("InvalidEnclosureName")
    secured_pv: Pv = named("InvalidEnclosurePv")
    shutter_pvs: Annotated[
        list[Pv], Field(max_length=20, json_schema_extra={"uniqueItems": True}), AfterValidator(_distinct)
    ] = named("InvalidEnclosurePv", default_factory=list)


class RegisterAssetIn(Body):
    name: Annotated[str, Text(200)] = named("InvalidAssetName")
    family: Annotated[str, Text(100)] = named("InvalidAssetFamily")
    parent_id: Id | None = None
    enclosure_id: Id | None = None
    device_names: Texts(200, 100) = named("InvalidAssetDeviceNames", default_factory=list)


class MoveAssetIn(Body):
    parent_id: Id | None = None
    enclosure_id: Id | None = None


class RegisterSubjectIn(Body):
    name: Annotated[str, Text(200)] = named("InvalidSubjectName")


class RegisterMethodIn(Body):
    name: Annotated[str, Text(200)] = named("InvalidMethodName")
    parameters_schema: dict[str, Any] | None = named("InvalidMethodSchema", default=None)
    needed_families: Texts(100, 100) = named("InvalidMethodFamilies", default_factory=list)


class RegisterPlanIn(Body):
    name: Annotated[str, Text(200)] = named("InvalidPlanName")
    method_id: Id
    default_parameters: dict[str, Any] = named("InvalidPlanParameters", default_factory=dict)
    asset_ids: Ids = Field(default_factory=list)


class CalibrationSourceIn(Body):
    kind: Literal["procedure", "dataset", "asserted"]
    #: the procedure id, the dataset URI or the person asserting the value
    ref: Annotated[str, Text(2000)]
    checksum: Annotated[str, Text(200)] | None = None


class RecordCalibrationIn(Body):
    asset_id: Id
    quantity: Annotated[str, Text(100)] = named("InvalidCalibrationQuantity")
    value: FiniteFloat = named("InvalidCalibrationValue")
    units: Annotated[str, StringConstraints(max_length=64, pattern=NO_NUL)] | None = named(
        "InvalidCalibrationUnits", default=None
    )
    source: CalibrationSourceIn = named("InvalidCalibrationSource")


class IssueTokenIn(Body):
    principal: Annotated[str, Text(200)] = named("InvalidTokenPrincipal")
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
