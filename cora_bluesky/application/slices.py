"""The slice table: every command and query the record serves, declared once.

Each row mirrors a line of a module's Slices table in the spec: the command, how REST and MCP
reach it, its idempotency, the duty it needs and the refusals it may answer with. The Python
API is the :class:`~cora_bluesky.Record` method the row names; REST routes, MCP tools, role
checks, OpenAPI refusals and the surface tests are all generated from these rows. A slice
without a row is served nowhere.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Callable, Mapping

from pydantic import AwareDatetime, TypeAdapter

from cora_bluesky.application import messages as m
from cora_bluesky.application import responses as out
from cora_bluesky.application.aggregates import (
    ASSET,
    CALIBRATION,
    CLEARANCE,
    ENCLOSURE,
    METHOD,
    PLAN,
    PRINCIPAL,
    PROCEDURE,
    RUN,
    SUBJECT,
    TOKEN,
    Aggregate,
)
from cora_bluesky.application.codec import encode
from cora_bluesky.domain import access, calibration, clearance, equipment, principal, procedure, recipe, run, subject
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import Duty
from cora_bluesky.domain.rules import ID_LENGTH


class Category(StrEnum):
    """The spec's slice categories: a new aggregate, a change to one, or a read."""

    NEW = "new"
    MODIFIED = "modified"
    QUERY = "query"


class Idempotency(StrEnum):
    """How a retried call is made safe."""

    #: an Idempotency-Key is required: a retry answers as the first call did
    REQUIRED = "required"
    #: a key may be sent; without one, a retry creates a second aggregate
    OPTIONAL = "optional"
    #: each entry carries a producer-supplied ``event_id``; a known one is skipped
    ENTRY = "entry"
    #: strict: repeating a transition is refused, so the log never holds a "did nothing" entry
    NONE = "none"


#: the domain module deciding each aggregate's commands, where its transition table lives
DECIDERS = {
    RUN.kind: run,
    PROCEDURE.kind: procedure,
    CLEARANCE.kind: clearance,
    ASSET.kind: equipment,
    ENCLOSURE.kind: equipment,
    SUBJECT.kind: subject,
    METHOD.kind: recipe,
    PLAN.kind: recipe,
    CALIBRATION.kind: calibration,
    TOKEN.kind: access,
    PRINCIPAL.kind: principal,
}

#: what every listing may answer besides its filters' boundary refusals
LISTING_REFUSALS = (e.InvalidCursorError, e.InvalidListQueryError)

REQUIRED = ...


@dataclass(frozen=True)
class Param:
    """A parameter outside the body (a path id, a listing filter): its type, default and bounds.

    ``constraints`` are keywords that pydantic's ``Field`` and FastAPI's ``Query`` both take,
    so that every surface bounds the parameter alike.
    """

    kind: Any
    default: Any = REQUIRED
    constraints: Mapping[str, Any] = field(default_factory=dict)


_ID = MappingProxyType({"min_length": 1, "max_length": ID_LENGTH})
#: an id in a path: anything longer or blank is not an id the record could hold
PATH_ID = Param(str, constraints=_ID)
#: how each listing filter or query parameter a row may declare is bounded
QUERY: dict[str, Param] = {
    "status": Param(str | None, None, _ID),
    "plan_id": Param(str | None, None, _ID),
    "subject_id": Param(str | None, None, _ID),
    "quantity": Param(str | None, None, _ID),
    "asset_id": Param(str, REQUIRED, _ID),
    "start_uid": Param(str | None, None, {**_ID, "description": "the start uid of a Bluesky run it holds"}),
    "scan_id": Param(int | None, None, {"ge": 0, "description": "the scan_id of a Bluesky run it holds"}),
    "external_ref": Param(str | None, None, {"min_length": 3, "max_length": 400,
                                             "description": "an external reference, as scheme:id"}),
    "created_from": Param(AwareDatetime | None, None, {"description": "created at or after"}),
    "created_before": Param(AwareDatetime | None, None, {"description": "created before"}),
    "cursor": Param(str | None, None, {"min_length": 1, "max_length": 500, "description": "`next` of the previous page"}),
    "limit": Param(int, 50, {"ge": 1, "le": 500, "description": "page size"}),
}
#: a logbook's row limit: logbooks have no cursor
LOGBOOK_LIMIT = Param(int, 1000, {"ge": 1, "le": 10000, "description": "most rows returned"})


@dataclass(frozen=True)
class Slice:
    """One row of a module's slice table.

    Parameters
    ----------
    command
        The spec's name: a domain command class of that name decides a NEW or MODIFIED slice.
    tool
        The MCP tool name, which is also the :class:`~cora_bluesky.Record` method.
    category, method, path, idempotency, duty
        As the spec's table and the access rules say. A row with no path is a command of the
        Python API alone (the gate and the recorder issue it), with its duty all the same.
    aggregate
        The aggregate the slice writes or reads.
    request
        The body model; path parameters and listing filters are not part of it.
    response
        The response model as served (``None`` for no content).
    refusals
        Refusals beyond those derived from the domain (unknown id, transition and reason).
    filters
        Query parameters of a query (listing filters, paging, logbook limit).
    present
        Turns what the Record method returns into the response body.
    """

    command: str
    tool: str
    category: Category
    method: str | None
    path: str | None
    idempotency: Idempotency
    duty: Duty
    aggregate: Aggregate
    doc: str
    request: type | None = None
    response: Any = None
    refusals: tuple[type[e.CoraError], ...] = ()
    filters: tuple[str, ...] = ()
    present: Callable[[Any], Any] = encode
    status: int | None = None

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.path or ""))

    @property
    def query(self) -> dict[str, Param]:
        """The row's query parameters (listing filters, paging, a logbook's limit)."""
        found = {name: QUERY[name] for name in self.filters}
        if "limit" in found and "cursor" not in found:
            found["limit"] = LOGBOOK_LIMIT
        return found

    @property
    def status_code(self) -> int:
        if self.status is not None:
            return self.status
        if self.response is None:
            return 204
        return 201 if self.category is Category.NEW else 200

    @property
    def decided_by(self) -> type | None:
        """The domain command class, for slices that write."""
        if self.category is Category.QUERY:
            return None
        return getattr(DECIDERS[self.aggregate.kind], self.command)

    @property
    def errors(self) -> tuple[type[e.CoraError], ...]:
        """Every refusal the slice may answer with, the derived ones first."""
        derived: list[type[e.CoraError]] = []
        if self.path is None or (self.path_params and self.path_params[0] == f"{self.aggregate.kind}_id"):
            derived.append(not_found(self.aggregate))
        decider = DECIDERS[self.aggregate.kind]
        command = self.decided_by
        for table in ("TRANSITIONS", "REASON_ERRORS"):
            entry = getattr(decider, table, {}).get(command)
            if entry is not None:
                derived.append(entry if isinstance(entry, type) else entry[-1])
        if self.category is Category.QUERY and "cursor" in self.filters:
            derived.extend(LISTING_REFUSALS)
        return tuple(dict.fromkeys((*derived, *self.refusals)))


def not_found(aggregate: Aggregate) -> type[e.CoraError]:
    """The refusal naming an unknown id of ``aggregate``."""
    return getattr(e, aggregate.state_type.__name__.removesuffix("State") + "NotFoundError")


def _started(state: Any) -> Mapping[str, Any]:
    return {
        "run_id": state.id,
        "status": str(state.status),
        "effective_parameters": encode(state.effective_parameters),
        "pinned_calibrations": list(state.pinned_calibrations),
    }


def _counted(count: int) -> Mapping[str, int]:
    return {"event_count": count}


def _paged(page: Any) -> Mapping[str, Any]:
    return {"items": [encode(item) for item in page.items], "next": page.next}


def _issued(issued: tuple[Any, str]) -> Mapping[str, Any]:
    token, secret = issued
    return {**encode(token), "token": secret}


def _listed(items: Any) -> list[Any]:
    return [encode(item) for item in items]


def _rows(rows: Any) -> Any:
    return rows


LISTING = ("limit", "cursor")
LOGBOOK = ("limit",)
R, C, Q = Category.NEW, Category.MODIFIED, Category.QUERY
KEY, MAYBE, ENTRY, NONE = Idempotency.REQUIRED, Idempotency.OPTIONAL, Idempotency.ENTRY, Idempotency.NONE
READ, OPERATE, FILE, REVIEW, ADMIN = Duty.READ, Duty.OPERATE, Duty.FILE_CLEARANCE, Duty.REVIEW, Duty.ADMINISTER

RUNS = (
    Slice(
        "StartRun", "start_run", R, "POST", "/runs", KEY, OPERATE, RUN,
        "Start a run; refused unless an Active clearance covers it and its hutches are permitted.",
        m.StartRunIn, out.RunStartedOut,
        refusals=(
            e.RunAlreadyExistsError, e.InvalidRunNameError, e.PlanNotFoundError, e.PlanDeprecatedError,
            e.SubjectNotFoundError, e.SubjectNotMountableError, e.RunAssetDecommissionedError,
            e.RunCapabilitiesNotSatisfiedError, e.RunRequiresActiveClearanceError,
            e.RunClearanceCoverageMismatchError, e.RunSafetyFormMismatchError, e.RunRequiresPermittedEnclosureError,
            e.RunEnclosureCoverageMismatchError, e.InvalidRunExternalRefError, e.InvalidRunParametersError,
            e.InvalidPinnedCalibrationsError, e.InvalidRunRaidError, e.InvalidRunTriggeredByError,
            e.InvalidRunCampaignIdError,
        ),
        present=_started,
    ),
    Slice("HoldRun", "hold_run", C, "POST", "/runs/{run_id}/hold", NONE, OPERATE, RUN,
          "Hold a Running run (no reason needed).", response=out.RunOut),
    Slice("ResumeRun", "resume_run", C, "POST", "/runs/{run_id}/resume", NONE, OPERATE, RUN,
          "Resume a Held run.", response=out.RunOut),
    Slice("CompleteRun", "complete_run", C, "POST", "/runs/{run_id}/complete", NONE, OPERATE, RUN,
          "Complete a Running run.", response=out.RunOut),
    Slice("AbortRun", "abort_run", C, "POST", "/runs/{run_id}/abort", NONE, OPERATE, RUN,
          "Abort a Running or Held run: something went wrong.", m.AbortRunIn, out.RunOut),
    Slice("StopRun", "stop_run", C, "POST", "/runs/{run_id}/stop", NONE, OPERATE, RUN,
          "Stop a Running or Held run early, on purpose.", m.StopRunIn, out.RunOut),
    Slice("TruncateRun", "truncate_run", C, "POST", "/runs/{run_id}/truncate", NONE, OPERATE, RUN,
          "Close a run that died unwatched, with the best guess of when it stopped.", m.TruncateRunIn, out.RunOut,
          refusals=(e.InvalidRunInterruptedAtError,)),
    Slice("AdjustRun", "adjust_run", C, "POST", "/runs/{run_id}/adjust", KEY, OPERATE, RUN,
          "Steer a run mid-flight with an RFC 7396 merge patch and a reason.", m.AdjustRunIn, out.RunOut,
          refusals=(e.InvalidRunAdjustPatchError, e.InvalidRunAdjustSchemaError, e.InvalidRunAdjustReasonError,
                    e.InvalidRunDecisionIdError)),
    Slice("AppendRunReading", "append_run_reading", C, "POST", "/runs/{run_id}/readings", ENTRY, OPERATE, RUN,
          "Append one reading; a repeated ``event_id`` is a no-op (``event_count`` 0).",
          m.ReadingIn, out.EventCountOut,
          refusals=(e.InvalidChannelNameError, e.InvalidReadingValueError, e.InvalidSamplingProcedureError,
                    e.InvalidReadingUnitsError, e.InvalidReadingSampledAtError, e.InvalidEntryIdError),
          present=_counted),
    Slice("GetRun", "get_run", Q, "GET", "/runs/{run_id}", NONE, READ, RUN,
          "A run's current state.", response=out.RunOut),
    Slice("ListRuns", "list_runs", Q, "GET", "/runs", NONE, READ, RUN,
          "Runs, newest first; follow ``next`` for older ones.", response=out.PageOut[out.RunOut],
          filters=("status", "plan_id", "subject_id", "created_from", "created_before", "start_uid", "scan_id",
                   "external_ref", *LISTING), present=_paged),
    Slice("ListRunReadings", "list_run_readings", Q, "GET", "/runs/{run_id}/readings", NONE, READ, RUN,
          "The run's readings in ``sampled_at`` order, with their three timestamps.",
          response=list[out.ReadingOut], filters=LOGBOOK, present=_rows),
    # what the RunEngine's gate and recorder write about a run they watch
    Slice("JoinRunAssets", "join_run_assets", C, None, None, NONE, OPERATE, RUN,
          "Bind equipment a running plan reached mid-flight; hutches it adds are checked now.",
          refusals=(e.RunRequiresPermittedEnclosureError,)),
    Slice("LinkRunDataset", "link_run_dataset", C, None, None, NONE, OPERATE, RUN,
          "Record the Bluesky run holding this Run's data, its scan_id and where the catalog has it.",
          refusals=(e.InvalidRunDatasetError,)),
    Slice("SealRunDataset", "seal_run_dataset", C, None, None, NONE, OPERATE, RUN,
          "Record the digest of a linked Bluesky run's documents as the RunEngine emitted them.",
          refusals=(e.InvalidRunDatasetError,)),
    Slice("ImportRun", "import_run", R, None, None, NONE, ADMIN, RUN,
          "Record a finished Bluesky run read from a catalog, in one append; never gated.",
          refusals=(e.RunAlreadyExistsError, e.InvalidRunImportError, e.InvalidRunExternalRefError,
                    e.PlanNameAmbiguousError, e.PlanNotFoundError)),
    Slice("SummarizeRun", "summarize_run", C, None, None, NONE, OPERATE, RUN,
          "Record what an open run amounted to before it ends."),
    Slice("AppendRunReading", "append_run_readings", C, None, None, ENTRY, OPERATE, RUN,
          "Append a batch of readings (the recorder's flush); known ``event_id`` are skipped.",
          refusals=(e.InvalidChannelNameError, e.InvalidReadingValueError, e.InvalidSamplingProcedureError,
                    e.InvalidReadingUnitsError, e.InvalidReadingSampledAtError, e.InvalidEntryIdError)),
)

PROCEDURES = (
    Slice("RegisterProcedure", "register_procedure", R, "POST", "/procedures", KEY, OPERATE, PROCEDURE,
          "Register a procedure (Defined); ``parent_run_id`` makes it a phase of that run.",
          m.RegisterProcedureIn, out.ProcedureRegisteredOut,
          refusals=(e.ProcedureAlreadyExistsError, e.InvalidProcedureNameError, e.InvalidProcedureKindError),
          present=lambda state: {"procedure_id": state.id}),
    Slice("StartProcedure", "start_procedure", C, "POST", "/procedures/{procedure_id}/start", NONE, OPERATE,
          PROCEDURE, "Start a Defined procedure on equipment that is still in service.",
          refusals=(e.ProcedureAssetDecommissionedError,)),
    Slice("AppendProcedureStep", "append_procedure_step", C, "POST", "/procedures/{procedure_id}/steps", ENTRY,
          OPERATE, PROCEDURE, "Append steps; an ``event_id`` already recorded is skipped silently.",
          m.StepsIn, out.EventCountOut,
          refusals=(e.ProcedureStepsLogbookClosedError, e.InvalidStepKindError, e.InvalidStepPayloadError,
                    e.InvalidStepSampledAtError, e.InvalidEntryIdError),
          present=_counted),
    Slice("CompleteProcedure", "complete_procedure", C, "POST", "/procedures/{procedure_id}/complete", NONE,
          OPERATE, PROCEDURE, "Complete a Running procedure."),
    Slice("AbortProcedure", "abort_procedure", C, "POST", "/procedures/{procedure_id}/abort", NONE, OPERATE,
          PROCEDURE, "Abort a Running procedure, with a reason.", m.AbortProcedureIn),
    Slice("TruncateProcedure", "truncate_procedure", C, "POST", "/procedures/{procedure_id}/truncate", NONE,
          OPERATE, PROCEDURE, "Close a procedure that died unwatched.", m.TruncateProcedureIn,
          refusals=(e.InvalidProcedureInterruptedAtError,)),
    Slice("GetProcedure", "get_procedure", Q, "GET", "/procedures/{procedure_id}", NONE, READ, PROCEDURE,
          "A procedure's current state.", response=out.ProcedureOut),
    Slice("ListProcedures", "list_procedures", Q, "GET", "/procedures", NONE, READ, PROCEDURE,
          "Procedures, newest registration first.", response=out.PageOut[out.ProcedureOut],
          filters=("status", "created_from", "created_before", *LISTING), present=_paged),
    Slice("ListProcedureSteps", "list_procedure_steps", Q, "GET", "/procedures/{procedure_id}/steps", NONE, READ,
          PROCEDURE, "The procedure's steps in ``sampled_at`` order.", response=list[out.StepOut],
          filters=LOGBOOK, present=_rows),
    # the procedure wrapper registers and starts in one write, so a refusal leaves nothing
    Slice("StartProcedure", "start_new_procedure", C, None, None, NONE, OPERATE, PROCEDURE,
          "Register and start a procedure in one write.",
          refusals=(e.ProcedureAlreadyExistsError, e.InvalidProcedureNameError, e.InvalidProcedureKindError,
                    e.ProcedureAssetDecommissionedError)),
)

CLEARANCES = (
    Slice("RegisterClearance", "register_clearance", R, "POST", "/clearances", MAYBE, FILE, CLEARANCE,
          "File a safety form (Defined), bound to runs, subjects or assets.",
          m.RegisterClearanceIn, out.ClearanceOut,
          refusals=(e.ClearanceAlreadyExistsError, e.ClearanceFormTypeNotFoundError, e.InvalidClearanceTitleError,
                    e.InvalidClearanceWindowError, e.InvalidClearanceBindingsError, e.InvalidClearanceHazardsError,
                    e.InvalidClearanceFormNumberError)),
    Slice("BindClearance", "bind_clearance", C, "POST", "/clearances/{clearance_id}/bind", NONE, FILE, CLEARANCE,
          "Add scope to a clearance that has not been submitted yet.", m.BindClearanceIn, out.ClearanceOut,
          refusals=(e.InvalidClearanceBindingsError,)),
    Slice("SubmitClearance", "submit_clearance", C, "POST", "/clearances/{clearance_id}/submit", NONE, FILE,
          CLEARANCE, "Defined -> Submitted, to its reviewers.", response=out.ClearanceOut),
    Slice("StartClearanceReview", "start_clearance_review", C, "POST", "/clearances/{clearance_id}/start-review",
          NONE, REVIEW, CLEARANCE, "Submitted -> UnderReview.", response=out.ClearanceOut),
    Slice("ApproveClearance", "approve_clearance", C, "POST", "/clearances/{clearance_id}/approve", NONE, REVIEW,
          CLEARANCE, "UnderReview -> Approved, not in force.", response=out.ClearanceOut),
    Slice("ActivateClearance", "activate_clearance", C, "POST", "/clearances/{clearance_id}/activate", NONE,
          REVIEW, CLEARANCE, "Approved -> Active: in force.", response=out.ClearanceOut),
    Slice("ExpireClearance", "expire_clearance", C, "POST", "/clearances/{clearance_id}/expire", NONE, REVIEW,
          CLEARANCE, "Approved or Active -> Expired.", response=out.ClearanceOut),
    Slice("RejectClearance", "reject_clearance", C, "POST", "/clearances/{clearance_id}/reject", NONE, REVIEW,
          CLEARANCE, "Submitted or UnderReview -> Rejected, with the reviewer's reason.",
          m.ClearanceReasonIn, out.ClearanceOut, refusals=(e.InvalidClearanceReasonError,)),
    Slice("SupersedeClearance", "supersede_clearance", C, "POST", "/clearances/{clearance_id}/supersede", NONE,
          REVIEW, CLEARANCE, "Replace a clearance with an amended one.",
          m.SupersedeClearanceIn, out.ClearanceOut, refusals=(e.InvalidClearanceReasonError,)),
    Slice("GetClearance", "get_clearance", Q, "GET", "/clearances/{clearance_id}", NONE, READ, CLEARANCE,
          "A clearance's current state.", response=out.ClearanceOut),
    Slice("ListClearances", "list_clearances", Q, "GET", "/clearances", NONE, READ, CLEARANCE,
          "Clearances, newest first.", response=out.PageOut[out.ClearanceOut],
          filters=("status", *LISTING), present=_paged),
    Slice("ListClearanceFormTypes", "list_clearance_form_types", Q, "GET", "/clearance-form-types", NONE, READ,
          CLEARANCE, "The facility safety form types this record knows.", response=list[out.FormTypeOut],
          present=_listed),
)

EQUIPMENT = (
    Slice("RegisterEnclosure", "register_enclosure", R, "POST", "/enclosures", MAYBE, ADMIN, ENCLOSURE,
          "Register a hutch with the read-only PSS PVs that say whether it is secured.",
          m.RegisterEnclosureIn, out.EnclosureOut,
          refusals=(e.EnclosureAlreadyExistsError, e.InvalidEnclosureNameError, e.InvalidEnclosurePvError)),
    Slice("ChangeEnclosurePvs", "change_enclosure_pvs", C, "POST", "/enclosures/{enclosure_id}/pvs", NONE, ADMIN,
          ENCLOSURE, "Point a hutch at other PSS PVs; permits are read from them from now on.",
          m.ChangeEnclosurePvsIn, out.EnclosureOut, refusals=(e.InvalidEnclosurePvError,)),
    Slice("GetEnclosure", "get_enclosure", Q, "GET", "/enclosures/{enclosure_id}", NONE, READ, ENCLOSURE,
          "A hutch and its PSS PVs.", response=out.EnclosureOut),
    Slice("ListEnclosures", "list_enclosures", Q, "GET", "/enclosures", NONE, READ, ENCLOSURE,
          "Hutches, newest first.", response=out.PageOut[out.EnclosureOut], filters=LISTING, present=_paged),
    Slice("RegisterAsset", "register_asset", R, "POST", "/assets", MAYBE, ADMIN, ASSET,
          "Register equipment, placed inside its parent assembly and/or a hutch.",
          m.RegisterAssetIn, out.AssetOut,
          refusals=(e.AssetAlreadyExistsError, e.AssetNotFoundError, e.EnclosureNotFoundError,
                    e.AssetContainmentCycleError, e.InvalidAssetNameError, e.InvalidAssetFamilyError,
                    e.InvalidAssetDeviceNamesError)),
    Slice("MoveAsset", "move_asset", C, "POST", "/assets/{asset_id}/move", NONE, ADMIN, ASSET,
          "Re-seat an asset in the containment tree.", m.MoveAssetIn, out.AssetOut,
          refusals=(e.AssetCannotMoveError, e.AssetContainmentCycleError, e.EnclosureNotFoundError)),
    Slice("DecommissionAsset", "decommission_asset", C, "POST", "/assets/{asset_id}/decommission", NONE, ADMIN,
          ASSET, "Retire an asset: runs and procedures binding it are refused from now on.",
          response=out.AssetOut, refusals=(e.AssetCannotDecommissionError,)),
    Slice("ChangeAssetDevices", "change_asset_devices", C, "POST", "/assets/{asset_id}/devices", NONE, ADMIN,
          ASSET, "Give an asset the ophyd device names it answers to from now on.",
          m.ChangeAssetDevicesIn, out.AssetOut, refusals=(e.AssetCannotChangeError, e.InvalidAssetDeviceNamesError)),
    Slice("ChangeAssetFamily", "change_asset_family", C, "POST", "/assets/{asset_id}/family", NONE, ADMIN,
          ASSET, "Say what kind of thing an asset is from now on.",
          m.ChangeAssetFamilyIn, out.AssetOut, refusals=(e.AssetCannotChangeError, e.InvalidAssetFamilyError)),
    Slice("GetAsset", "get_asset", Q, "GET", "/assets/{asset_id}", NONE, READ, ASSET,
          "An asset and its place in the containment tree.", response=out.AssetOut),
    Slice("ListAssets", "list_assets", Q, "GET", "/assets", NONE, READ, ASSET,
          "Assets, newest first.", response=out.PageOut[out.AssetOut], filters=("status", *LISTING),
          present=_paged),
    Slice("RecordCalibration", "record_calibration", R, "POST", "/calibrations", MAYBE, OPERATE, CALIBRATION,
          "Record a new revision of an asset's calibrated quantity; the newest is the one in force.",
          m.RecordCalibrationIn, out.CalibrationOut,
          refusals=(e.CalibrationAlreadyExistsError, e.AssetNotFoundError, e.InvalidCalibrationQuantityError,
                    e.InvalidCalibrationValueError, e.InvalidCalibrationUnitsError,
                    e.InvalidCalibrationSourceError)),
    Slice("GetCalibration", "get_calibration", Q, "GET", "/calibrations/{calibration_id}", NONE, READ,
          CALIBRATION, "One calibration revision.", response=out.CalibrationOut),
    Slice("ListCalibrations", "list_calibrations", Q, "GET", "/calibrations", NONE, READ, CALIBRATION,
          "An asset's calibration revisions, oldest first, optionally of one quantity.",
          response=list[out.CalibrationOut], refusals=(e.AssetNotFoundError,),
          filters=("asset_id", "quantity"), present=_listed),
)

SUBJECTS = (
    Slice("RegisterSubject", "register_subject", R, "POST", "/subjects", MAYBE, OPERATE, SUBJECT,
          "Register a sample (Registered).", m.RegisterSubjectIn, out.SubjectOut,
          refusals=(e.SubjectAlreadyExistsError, e.InvalidSubjectNameError)),
    Slice("MountSubject", "mount_subject", C, "POST", "/subjects/{subject_id}/mount", NONE, OPERATE, SUBJECT,
          "Put the sample on the stage.", response=out.SubjectOut),
    Slice("MarkSubjectMeasured", "mark_subject_measured", C, "POST", "/subjects/{subject_id}/measured", NONE,
          OPERATE, SUBJECT, "Record that it has been measured.", response=out.SubjectOut),
    Slice("UnmountSubject", "unmount_subject", C, "POST", "/subjects/{subject_id}/unmount", NONE, OPERATE,
          SUBJECT, "Take the sample off the stage.", response=out.SubjectOut),
    Slice("GetSubject", "get_subject", Q, "GET", "/subjects/{subject_id}", NONE, READ, SUBJECT,
          "A sample and where it is.", response=out.SubjectOut),
    Slice("ListSubjects", "list_subjects", Q, "GET", "/subjects", NONE, READ, SUBJECT,
          "Samples, newest first.", response=out.PageOut[out.SubjectOut], filters=("status", *LISTING),
          present=_paged),
)

RECIPES = (
    Slice("RegisterMethod", "register_method", R, "POST", "/methods", MAYBE, ADMIN, METHOD,
          "Register a technique: the JSON Schema of its parameters and the asset families it needs.",
          m.RegisterMethodIn, out.MethodOut,
          refusals=(e.MethodAlreadyExistsError, e.InvalidMethodNameError, e.InvalidMethodSchemaError,
                    e.InvalidMethodFamiliesError)),
    Slice("ReviseMethod", "revise_method", C, "POST", "/methods/{method_id}/revise", NONE, ADMIN, METHOD,
          "Give a technique another parameter schema or needed families.", m.ReviseMethodIn, out.MethodOut,
          refusals=(e.InvalidMethodSchemaError, e.InvalidMethodFamiliesError)),
    Slice("GetMethod", "get_method", Q, "GET", "/methods/{method_id}", NONE, READ, METHOD,
          "A technique.", response=out.MethodOut),
    Slice("ListMethods", "list_methods", Q, "GET", "/methods", NONE, READ, METHOD,
          "Techniques, newest first.", response=out.PageOut[out.MethodOut], filters=LISTING, present=_paged),
    Slice("RegisterPlan", "register_plan", R, "POST", "/plans", MAYBE, ADMIN, PLAN,
          "Register how this beamline runs a Method; ``name`` is the Bluesky plan's name.",
          m.RegisterPlanIn, out.PlanOut,
          refusals=(e.PlanAlreadyExistsError, e.MethodNotFoundError, e.AssetNotFoundError, e.InvalidPlanNameError,
                    e.InvalidPlanParametersError, e.InvalidRunParametersError, e.InvalidPlanBlueskyNamesError)),
    Slice("RevisePlan", "revise_plan", C, "POST", "/plans/{plan_id}/revise", NONE, ADMIN, PLAN,
          "Give an Active plan other defaults, assets or Bluesky names; its method stays.",
          m.RevisePlanIn, out.PlanOut,
          refusals=(e.PlanCannotReviseError, e.AssetNotFoundError, e.InvalidPlanParametersError,
                    e.InvalidPlanBlueskyNamesError)),
    Slice("DeprecatePlan", "deprecate_plan", C, "POST", "/plans/{plan_id}/deprecate", NONE, ADMIN, PLAN,
          "Retire a plan: it starts no more runs.", response=out.PlanOut,
          refusals=(e.PlanCannotDeprecateError,)),
    Slice("GetPlan", "get_plan", Q, "GET", "/plans/{plan_id}", NONE, READ, PLAN,
          "A plan and its defaults.", response=out.PlanOut),
    Slice("ListPlans", "list_plans", Q, "GET", "/plans", NONE, READ, PLAN,
          "Plans, newest first.", response=out.PageOut[out.PlanOut], filters=("status", *LISTING),
          present=_paged),
)

TOKENS = (
    # Not behind Idempotency-Key: keeping the response to replay it would keep the secret.
    Slice("IssueToken", "issue_token", R, "POST", "/tokens", NONE, ADMIN, TOKEN,
          "Issue a token to a registered principal, for one of its roles; its secret is in this response only.",
          m.IssueTokenIn, out.TokenIssuedOut,
          refusals=(e.InvalidTokenPrincipalError, e.InvalidTokenRoleError, e.InvalidTokenExpiryError,
                    e.PrincipalNotFoundError, e.TokenRoleNotHeldError, e.TokenCannotWidenIssuerError),
          present=_issued),
    Slice("RevokeToken", "revoke_token", C, "POST", "/tokens/{token_id}/revoke", NONE, ADMIN, TOKEN,
          "Revoke a token: it authenticates nothing from now on.", response=out.TokenOut,
          refusals=(e.TokenCannotRevokeError,)),
    Slice("ListTokens", "list_tokens", Q, "GET", "/tokens", NONE, ADMIN, TOKEN,
          "Tokens, newest first; never their secrets.", response=out.PageOut[out.TokenOut], filters=LISTING,
          present=_paged),
)

PRINCIPALS = (
    Slice("RegisterPrincipal", "register_principal", R, "POST", "/principals", NONE, ADMIN, PRINCIPAL,
          "Register a person or service with its roles (never operator and safety together).",
          m.RegisterPrincipalIn, out.PrincipalOut,
          refusals=(e.PrincipalAlreadyExistsError, e.InvalidPrincipalNameError, e.InvalidPrincipalRolesError)),
    Slice("ChangePrincipalRoles", "change_principal_roles", C, "POST", "/principals/{principal_id}/roles", NONE,
          ADMIN, PRINCIPAL, "Give a principal exactly these roles; an empty list retires it. Never one's own.",
          m.PrincipalRolesIn, out.PrincipalOut,
          refusals=(e.PrincipalCannotChangeOwnRolesError, e.PrincipalRolesUnchangedError,
                    e.InvalidPrincipalRolesError)),
    Slice("GetPrincipal", "get_principal", Q, "GET", "/principals/{principal_id}", NONE, READ, PRINCIPAL,
          "A principal and the roles it holds.", response=out.PrincipalOut),
    Slice("ListPrincipals", "list_principals", Q, "GET", "/principals", NONE, READ, PRINCIPAL,
          "Principals, newest first.", response=out.PageOut[out.PrincipalOut], filters=LISTING, present=_paged),
)

#: every slice, by module
MODULES: dict[str, tuple[Slice, ...]] = {
    "runs": RUNS,
    "procedures": PROCEDURES,
    "clearances": CLEARANCES,
    "equipment": EQUIPMENT,
    "subjects": SUBJECTS,
    "recipes": RECIPES,
    "tokens": TOKENS,
    "principals": PRINCIPALS,
}
SLICES: tuple[Slice, ...] = tuple(row for rows in MODULES.values() for row in rows)
#: the slices REST and MCP serve
SERVED: tuple[Slice, ...] = tuple(row for row in SLICES if row.path is not None)
BY_TOOL: dict[str, Slice] = {row.tool: row for row in SERVED}

assert len({row.tool for row in SLICES}) == len(SLICES), "tool names must be unique"


def call(record: Any, row: Slice, arguments: Mapping[str, Any]) -> Any:
    """Perform ``row`` on ``record``: path parameters positionally, the rest by keyword.

    Every surface calls the record through here, so that a slice means the same everywhere.
    """
    arguments = dict(arguments)
    positional = [arguments.pop(name) for name in row.path_params]
    return getattr(record, row.tool)(*positional, **arguments)


@functools.cache
def adapter(kind: Any) -> TypeAdapter:
    return TypeAdapter(kind)


def answer(row: Slice, result: Any) -> Any:
    """What every surface sends back for ``result``: the row's response model, as JSON.

    Only the fields the response model names leave the record, whatever the state holds.
    """
    if row.response is None:
        return None
    model = adapter(row.response)
    return model.dump_python(model.validate_python(row.present(result)), mode="json")
