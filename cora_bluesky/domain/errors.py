"""Named refusals of the record.

Every refusal is a class named after the spec's error with an ``Error`` suffix. Three
families tell an edge how to present it: :class:`NotFoundError` (an id the record does not
hold), :class:`ConflictError` (a refused transition or guard) and :class:`InvalidInputError`
(a value the record will not accept). Each error carries the data an operator needs to act
on it in :attr:`CoraError.data`.
"""

from __future__ import annotations

from typing import Any


class CoraError(Exception):
    """Base of every refusal the record raises.

    Parameters
    ----------
    message : str
        What was refused and, where it helps, how to fix it.
    **data
        JSON-ready facts about the refusal (ids, counts, hutch names).
    """

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    @property
    def name(self) -> str:
        """The spec's name for this refusal, without the ``Error`` suffix."""
        return type(self).__name__.removesuffix("Error")

    def __str__(self) -> str:
        # the name travels with the text wherever only the text does (queueserver, logs)
        return f"{self.name}: {self.message}"

    def __reduce__(self):  # keeps errors intact across process boundaries
        return (_rebuild, (type(self), self.message, self.data))


def _rebuild(cls: type[CoraError], message: str, data: dict[str, Any]) -> CoraError:
    return cls(message, **data)


class NotFoundError(CoraError):
    """An id that the record does not hold."""


class ConflictError(CoraError):
    """A transition or guard refused in the current state."""


class InvalidInputError(CoraError):
    """A value that the record does not accept."""


class ConcurrencyError(ConflictError):
    """Another writer appended to the same stream first."""


class CoraAlreadyInstalledError(ConflictError):
    """cora-bluesky is installed on a RunEngine once."""


class ReservedMetadataError(InvalidInputError):
    """Run metadata may not carry the keys the gate writes."""


class StoreError(CoraError):
    """The store cannot serve the request (schema, URI or availability)."""


class UnreadableEventError(CoraError):
    """A stored event this cora-bluesky cannot read: an unknown type, or a newer version of one."""


class StoreConstraintError(InvalidInputError):
    """The store's own constraints refused a row (the core should have refused it first)."""


class InvalidCursorError(InvalidInputError):
    """A pagination cursor that this record did not issue."""


class InvalidListQueryError(InvalidInputError):
    """A listing's page size or filters are out of bounds."""


class InvalidTimestampError(InvalidInputError):
    """A timestamp without a time zone, or otherwise unusable."""


class UnauthorizedError(CoraError):
    """The request carries no valid bearer token."""


class ForbiddenError(CoraError):
    """The token's role does not allow this request."""


class InvalidRequestError(InvalidInputError):
    """A request the edge refused before the record saw it (shape, types or bounds)."""


class RequestTooLargeError(InvalidInputError):
    """A request body over the server's size limit."""


class IdempotencyKeyRequiredError(InvalidInputError):
    """This command is retried safely only with an ``Idempotency-Key`` header."""


class InvalidIdempotencyKeyError(InvalidInputError):
    """Idempotency keys are 1-200 printable ASCII characters."""


class IdempotencyKeyReusedError(InvalidInputError):
    """An idempotency key already used for a different request."""


class IdempotencyKeyInProgressError(ConflictError):
    """The first request with this idempotency key has not finished yet."""


# --- Run -------------------------------------------------------------------------------


class RunNotFoundError(NotFoundError):
    """No run with this id."""


class RunAlreadyExistsError(ConflictError):
    """A run with this id was already started."""


class InvalidRunNameError(InvalidInputError):
    """Run names are trimmed text of 1-200 characters."""


class InvalidRunRaidError(InvalidInputError):
    """A RAiD is trimmed text of 1-255 characters."""


class InvalidRunTriggeredByError(InvalidInputError):
    """``triggered_by`` is trimmed text of 1-200 characters."""


class InvalidRunCampaignIdError(InvalidInputError):
    """``campaign_id`` is trimmed text of 1-100 characters (kept as given, not resolved)."""


class InvalidRunExternalRefError(InvalidInputError):
    """External references need a scheme and an id, each trimmed text."""


class InvalidRunParametersError(InvalidInputError):
    """Effective parameters are not a JSON object the Method's schema accepts."""


class InvalidPinnedCalibrationsError(InvalidInputError):
    """A pinned calibration revision is unknown or listed twice."""


class RunAssetDecommissionedError(ConflictError):
    """A run may not bind a decommissioned asset."""


class RunCapabilitiesNotSatisfiedError(ConflictError):
    """The run's assets lack asset families the Method needs."""


class RunRequiresActiveClearanceError(ConflictError):
    """No clearance references the run's scope."""


class RunClearanceCoverageMismatchError(ConflictError):
    """Clearances reference the run's scope but none is in force."""


class RunSafetyFormMismatchError(ConflictError):
    """The run names a safety form that no clearance in force over it carries."""


class RunRequiresPermittedEnclosureError(ConflictError):
    """Every hutch in the run's enclosure scope is unpermitted."""


class RunEnclosureCoverageMismatchError(ConflictError):
    """Some hutches in the run's enclosure scope are unpermitted."""


class RunCannotHoldError(ConflictError):
    """Only a Running run can be held."""


class RunCannotResumeError(ConflictError):
    """Only a Held run can be resumed."""


class RunCannotCompleteError(ConflictError):
    """Only a Running run can be completed."""


class RunCannotAbortError(ConflictError):
    """Only a Running or Held run can be aborted."""


class RunCannotStopError(ConflictError):
    """Only a Running or Held run can be stopped."""


class RunCannotTruncateError(ConflictError):
    """Only a Running or Held run can be truncated."""


class RunCannotAdjustError(ConflictError):
    """Only a Running or Held run can be adjusted."""


class InvalidRunAbortReasonError(InvalidInputError):
    """Abort reasons are trimmed text of 1-500 characters."""


class InvalidRunStopReasonError(InvalidInputError):
    """Stop reasons are trimmed text of 1-500 characters."""


class InvalidRunTruncateReasonError(InvalidInputError):
    """Truncate reasons are trimmed text of 1-500 characters."""


class InvalidRunAdjustReasonError(InvalidInputError):
    """Adjust reasons are trimmed text of 1-500 characters."""


class InvalidRunInterruptedAtError(InvalidInputError):
    """``interrupted_at`` may be neither in the future nor before the run started."""


class InvalidRunAdjustPatchError(InvalidInputError):
    """An adjustment patch is a non-empty JSON object."""


class InvalidRunAdjustSchemaError(InvalidInputError):
    """The adjusted parameters break the Method's parameter schema."""


class InvalidRunDecisionIdError(InvalidInputError):
    """``decided_by_decision_id`` is trimmed text of 1-200 characters."""


class RunCannotLinkDatasetError(ConflictError):
    """Datasets are linked to an open (Running or Held) run, each Bluesky run once."""


class RunCannotSummarizeError(ConflictError):
    """A run is summarized while it is still open, just before it ends."""


class RunCannotJoinAssetsError(ConflictError):
    """Equipment joins a run only while it is open (Running or Held)."""


class RunRequiresKnownDevicesError(ConflictError):
    """A run touches devices that no asset answers to and the model places in no hutch."""


class RunDataNotLinkedError(NotFoundError):
    """The run holds no link to a Bluesky run (or not to the one named)."""


class RunDataUnreachableError(ConflictError):
    """The linked Bluesky run cannot be read: no catalog is configured, or it has no such run."""


class InvalidRunDatasetError(InvalidInputError):
    """A dataset link names a Bluesky start uid (1-100 chars) and a URI (1-2000 chars)."""


class InvalidRunImportError(InvalidInputError):
    """A historic run names its catalog (1-2000 chars) and its Bluesky plan (1-200 chars), and
    ends no earlier than it started and no later than now."""


class InvalidRunSummaryError(InvalidInputError):
    """A run summary is a bounded JSON object with finite numbers."""


class RunReadingLogbookClosedError(ConflictError):
    """A run in a terminal state takes no more readings."""


class InvalidChannelNameError(InvalidInputError):
    """Channel names are trimmed text of 1-255 characters."""


class InvalidReadingValueError(InvalidInputError):
    """Reading values are finite numbers."""


class InvalidSamplingProcedureError(InvalidInputError):
    """The sampling procedure is one of the record's known discriminators."""


class InvalidReadingUnitsError(InvalidInputError):
    """Units, when given, are trimmed text of 1-64 characters."""


class InvalidReadingSampledAtError(InvalidInputError):
    """``sampled_at`` is a zoned time not far in the future."""


class InvalidEntryIdError(InvalidInputError):
    """Entry ids are non-blank text of at most 100 characters."""


# --- Procedure -------------------------------------------------------------------------


class ProcedureNotFoundError(NotFoundError):
    """No procedure with this id."""


class ProcedureAlreadyExistsError(ConflictError):
    """A procedure with this id was already registered."""


class InvalidProcedureNameError(InvalidInputError):
    """Procedure names are trimmed text of 1-200 characters."""


class InvalidProcedureKindError(InvalidInputError):
    """Procedure kinds are trimmed text of 1-50 characters."""


class ProcedureCannotStartError(ConflictError):
    """Only a Defined procedure can be started."""


class ProcedureAssetDecommissionedError(ConflictError):
    """A procedure may not start on a decommissioned asset."""


class ProcedureCannotCompleteError(ConflictError):
    """Only a Running procedure can be completed."""


class ProcedureCannotAbortError(ConflictError):
    """Only a Running procedure can be aborted."""


class ProcedureCannotTruncateError(ConflictError):
    """Only a Running procedure can be truncated."""


class InvalidProcedureAbortReasonError(InvalidInputError):
    """Abort reasons are trimmed text of 1-500 characters."""


class InvalidProcedureTruncateReasonError(InvalidInputError):
    """Truncate reasons are trimmed text of 1-500 characters."""


class InvalidProcedureInterruptedAtError(InvalidInputError):
    """``interrupted_at`` may be neither in the future nor before the procedure started."""


class ProcedureStepsLogbookClosedError(ConflictError):
    """Steps are appended to Running procedures only."""


class InvalidStepKindError(InvalidInputError):
    """Step kinds are ``setpoint``, ``action`` or ``check``."""


class InvalidStepPayloadError(InvalidInputError):
    """Step payloads are bounded JSON objects with finite numbers."""


class InvalidStepSampledAtError(InvalidInputError):
    """``sampled_at`` is a zoned time not far in the future."""


# --- Clearance -------------------------------------------------------------------------


class ClearanceNotFoundError(NotFoundError):
    """No clearance with this id."""


class ClearanceAlreadyExistsError(ConflictError):
    """A clearance with this id was already registered."""


class ClearanceFormTypeNotFoundError(NotFoundError):
    """The form type is not registered in this record."""


class InvalidClearanceTitleError(InvalidInputError):
    """Clearance titles are trimmed text of 1-200 characters."""


class InvalidClearanceWindowError(InvalidInputError):
    """A validity window ends after it begins; both ends carry a time zone."""


class InvalidClearanceBindingsError(InvalidInputError):
    """A clearance binds at least one run, subject or asset id."""


class InvalidClearanceHazardsError(InvalidInputError):
    """Hazards are a list of trimmed texts of 1-200 characters."""


class InvalidClearanceFormNumberError(InvalidInputError):
    """A form number is a trimmed text of 1-100 characters (the facility's number of the form)."""


class InvalidClearanceReasonError(InvalidInputError):
    """Rejection and supersession reasons are trimmed text of 1-500 characters."""


class ClearanceCannotSubmitError(ConflictError):
    """Only a Defined clearance can be submitted."""


class ClearanceCannotBindError(ConflictError):
    """Scope can be added to a Defined clearance only."""


class ClearanceCannotStartReviewError(ConflictError):
    """Only a Submitted clearance can go under review."""


class ClearanceCannotApproveError(ConflictError):
    """Only a clearance under review can be approved."""


class ClearanceCannotRejectError(ConflictError):
    """Only a Submitted clearance or one under review can be rejected."""


class ClearanceCannotActivateError(ConflictError):
    """Only an Approved clearance whose window has not closed can be activated."""


class ClearanceCannotExpireError(ConflictError):
    """Only an Approved or Active clearance can expire."""


class ClearanceCannotSupersedeError(ConflictError):
    """A clearance in a terminal state cannot be superseded."""


# --- Equipment -------------------------------------------------------------------------


class AssetNotFoundError(NotFoundError):
    """No asset with this id."""


class AssetAlreadyExistsError(ConflictError):
    """An asset with this id was already registered."""


class InvalidAssetNameError(InvalidInputError):
    """Asset names are trimmed text of 1-200 characters."""


class InvalidAssetFamilyError(InvalidInputError):
    """Asset families are trimmed text of 1-100 characters."""


class InvalidAssetDeviceNamesError(InvalidInputError):
    """Device names are distinct trimmed texts of 1-200 characters."""


class InvalidAssetIdsError(InvalidInputError):
    """A list of asset ids holds distinct, non-blank ids of at most 100 characters."""


class AssetContainmentCycleError(ConflictError):
    """An asset cannot sit inside itself, directly or through its parents."""


class AssetCannotDecommissionError(ConflictError):
    """Only an Active asset can be decommissioned."""


class AssetCannotMoveError(ConflictError):
    """A decommissioned asset stays where it was."""


class AssetCannotChangeError(ConflictError):
    """A decommissioned asset keeps its family and device names."""


class EnclosureNotFoundError(NotFoundError):
    """No enclosure with this id."""


class EnclosureAlreadyExistsError(ConflictError):
    """An enclosure with this id or name is already registered."""


class InvalidEnclosureNameError(InvalidInputError):
    """Enclosure names are trimmed text of 1-100 characters."""


class InvalidEnclosurePvError(InvalidInputError):
    """PV names are trimmed text of 1-200 characters without whitespace."""


# --- Subject ---------------------------------------------------------------------------


class SubjectNotFoundError(NotFoundError):
    """No subject with this id."""


class SubjectAlreadyExistsError(ConflictError):
    """A subject with this id was already registered."""


class InvalidSubjectNameError(InvalidInputError):
    """Subject names are trimmed text of 1-200 characters."""


class SubjectNotMountableError(ConflictError):
    """A run needs its subject Mounted or Measured."""


class SubjectCannotMountError(ConflictError):
    """Only a Registered or Unmounted subject can be mounted."""


class SubjectCannotMarkMeasuredError(ConflictError):
    """Only a Mounted subject can be marked Measured."""


class SubjectCannotUnmountError(ConflictError):
    """Only a Mounted or Measured subject can be unmounted."""


# --- Recipe ----------------------------------------------------------------------------


class MethodNotFoundError(NotFoundError):
    """No method with this id."""


class MethodAlreadyExistsError(ConflictError):
    """A method with this id or name is already registered."""


class InvalidMethodNameError(InvalidInputError):
    """Method names are trimmed text of 1-200 characters."""


class InvalidMethodSchemaError(InvalidInputError):
    """A parameter schema must itself be a valid JSON Schema object."""


class InvalidMethodFamiliesError(InvalidInputError):
    """Needed asset families are distinct trimmed texts of 1-100 characters."""


class PlanNotFoundError(NotFoundError):
    """No plan with this id or name."""


class PlanAlreadyExistsError(ConflictError):
    """A plan with this id or name is already registered."""


class InvalidPlanNameError(InvalidInputError):
    """Plan names are trimmed text of 1-200 characters."""


class InvalidPlanParametersError(InvalidInputError):
    """Plan defaults are a JSON object of finite values."""


class PlanDeprecatedError(ConflictError):
    """A deprecated plan starts no runs."""


class PlanCannotReviseError(ConflictError):
    """A deprecated plan is history; a plan replacing it is registered under its name."""


class InvalidPlanBlueskyNamesError(InvalidInputError):
    """Bluesky plan names or patterns are distinct trimmed texts of 1-200 characters."""


class PlanNameAmbiguousError(ConflictError):
    """More than one Active plan answers equally well to a Bluesky plan name."""


class PlanCannotDeprecateError(ConflictError):
    """Only an Active plan can be deprecated."""


# --- Calibration -----------------------------------------------------------------------


class CalibrationNotFoundError(NotFoundError):
    """No calibration revision with this id."""


class CalibrationAlreadyExistsError(ConflictError):
    """A calibration revision with this id was already recorded."""


class InvalidCalibrationQuantityError(InvalidInputError):
    """Quantities are trimmed text of 1-100 characters."""


class InvalidCalibrationValueError(InvalidInputError):
    """Calibration values are finite numbers."""


class InvalidCalibrationUnitsError(InvalidInputError):
    """Units, when given, are trimmed text of 1-64 characters."""


class InvalidCalibrationSourceError(InvalidInputError):
    """A revision names exactly one source: a procedure, a dataset or a person."""


# --- Access ----------------------------------------------------------------------------


class TokenNotFoundError(NotFoundError):
    """No token with this id."""


class TokenAlreadyExistsError(ConflictError):
    """A token with this id was already issued."""


class TokenCannotRevokeError(ConflictError):
    """Only an Active token can be revoked."""


class InvalidTokenPrincipalError(InvalidInputError):
    """Principals are trimmed text of 1-200 characters."""


class InvalidTokenRoleError(InvalidInputError):
    """Roles are viewer, operator, safety or admin."""


class InvalidTokenExpiryError(InvalidInputError):
    """A token's expiry is a zoned time after it is issued."""


class TokenRoleNotHeldError(ConflictError):
    """A token carries only a role its principal holds: it cannot widen the principal's roles."""


class TokenCannotWidenIssuerError(ConflictError):
    """A token issued through a token may do nothing the issuing token may not."""


# --- Principals ------------------------------------------------------------------------


class PrincipalNotFoundError(NotFoundError):
    """No principal of this name is registered in the record."""


class PrincipalAlreadyExistsError(ConflictError):
    """A principal of this name is already registered."""


class PrincipalNotRegisteredError(ForbiddenError):
    """Whoever acts must be a registered principal; an unknown name may do nothing."""


class PrincipalCannotChangeOwnRolesError(ConflictError):
    """A principal's roles are changed by another administrator, never by the principal."""


class PrincipalRolesUnchangedError(ConflictError):
    """A role change must change something: the log never holds a change that did nothing."""


class InvalidPrincipalNameError(InvalidInputError):
    """Principal names are 1-100 characters: letters, digits and ``._@+-``."""


class InvalidPrincipalRolesError(InvalidInputError):
    """Roles are distinct viewer, operator, safety or admin; operator and safety never together."""


class RecordAlreadyBootstrappedError(ConflictError):
    """Only a record that holds no principal takes a first administrator."""


class InvalidTextError(InvalidInputError):
    """Text the record keeps is valid Unicode, without lone surrogates or NUL characters."""


# --- Beamline model and edges ----------------------------------------------------------


class InvalidBeamlineModelError(InvalidInputError):
    """The beamline model file has a mistake; ``data`` names the file, the entry and the field."""


class CoraNotInstalledError(ConflictError):
    """A cora plan stub ran on a RunEngine that cora-bluesky is not installed on."""


class StoreLocationNotFoundError(StoreError):
    """A store URI names a directory that does not exist; nothing is created."""


class UnknownStoreSchemeError(StoreError):
    """A store URI's scheme names no store this cora-bluesky knows."""


class CopyTargetNotDurableError(StoreError):
    """A record is never copied into a store that lives only in memory."""
