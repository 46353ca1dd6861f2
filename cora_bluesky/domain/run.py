"""Run: one execution of a Plan that leaves a dataset of record.

Transitions (``TRANSITIONS`` below is what :func:`decide` consults)::

    start_run     (none)            -> Running     guards: see :func:`decide_start`
    hold_run      Running           -> Held
    resume_run    Held              -> Running
    complete_run  Running           -> Completed
    abort_run     Running | Held    -> Aborted     reason
    stop_run      Running | Held    -> Stopped     reason
    truncate_run  Running | Held    -> Truncated   reason, optional interrupted_at
    adjust_run    Running | Held    (unchanged)    reason, RFC 7396 patch
    join_assets   Running | Held    (unchanged)    every hutch the assets add must be permitted
    import_run    (none)            -> Completed | Aborted | Truncated    never gated: see :func:`decide_import`

Every transition is strict: repeating one raises instead of doing nothing, so the stream never
holds a "did nothing" entry. Terminal states absorb every command.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Mapping

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.calibration import CalibrationState
from cora_bluesky.domain.digest import CANONICAL_FORM
from cora_bluesky.domain.documents import Ending
from cora_bluesky.domain.clearance import ClearanceState
from cora_bluesky.domain.equipment import AssetState, AssetStatus, EnclosureState
from cora_bluesky.domain.gates import (
    GateContext,
    Permit,
    check_safety_forms,
    check_scope,
    covering,
    enclosure_scope,
    explain,
    unpermitted,
)
from cora_bluesky.domain.merge_patch import merge_patch
from cora_bluesky.domain.recipe import MethodState, PlanState, PlanStatus
from cora_bluesky.domain.rules import (
    ASSET_IDS,
    CHANNEL_NAME,
    DATASET_CANONICAL_FORM,
    DATASET_START_UID,
    DATASET_URI,
    IMPORT_BLUESKY_PLAN,
    IMPORT_SOURCE,
    PINNED_CALIBRATIONS,
    READING_UNITS,
    RUN_CAMPAIGN_ID,
    RUN_DECISION_ID,
    RUN_NAME,
    RUN_RAID,
    RUN_TRIGGERED_BY,
    SAMPLING_PROCEDURE,
)
from cora_bluesky.domain.subject import MEASURABLE, SubjectState
from cora_bluesky.domain.values import (
    At,
    ExternalRef,
    ParameterCheck,
    entry_id,
    finite_number,
    instant,
    interruption,
    json_object,
    reason,
    sampled_at,
)


class RunStatus(StrEnum):
    RUNNING = "Running"
    HELD = "Held"
    COMPLETED = "Completed"
    ABORTED = "Aborted"
    STOPPED = "Stopped"
    TRUNCATED = "Truncated"


R = RunStatus
TERMINAL = frozenset({R.COMPLETED, R.ABORTED, R.STOPPED, R.TRUNCATED})

#: External-reference schemes that name the run's safety form (an ESAF's number): a run naming
#: one is refused when the clearances in force over it carry other numbers.
SAFETY_FORM_SCHEMES = frozenset({"esaf", "safety_form"})

#: The discriminators a reading row may carry (SOSA sampling procedures).
SAMPLING_PROCEDURES = frozenset(SAMPLING_PROCEDURE.allowed)

#: Shape of a reading row, recorded when the logbook opens.
READING_SCHEMA = "run-reading/v1"


@dataclass(frozen=True)
class DatasetRef:
    """A Bluesky run holding this Run's data: its start document uid and where to find it.

    ``digest`` is the SHA-256 of the run's documents in ``canonical_form`` (see
    :mod:`cora_bluesky.domain.digest`), recorded when the run ended; ``None`` when the record
    did not see every document (a run recorded from a replayed spool, or ended by a person).
    """

    start_uid: str
    uri: str
    scan_id: int | None = None
    digest: str | None = None
    canonical_form: str | None = None
    documents: int | None = None


@dataclass(frozen=True)
class ImportedFrom:
    """Where an imported run came from: it was read from a catalog, never gated or watched."""

    #: the catalog it was read from
    source: str
    #: the plan its start document names, kept as said when no CORA Plan answers to it
    bluesky_plan: str | None
    imported_at: datetime


@dataclass(frozen=True)
class RunState:
    id: str
    name: str
    #: ``None`` only for an imported run whose Bluesky plan no CORA Plan answers to
    plan_id: str | None
    method_id: str | None
    subject_id: str | None
    raid: str | None
    status: RunStatus
    asset_ids: tuple[str, ...]
    override_parameters: Mapping[str, Any]
    effective_parameters: Mapping[str, Any]
    triggered_by: str | None
    external_refs: tuple[ExternalRef, ...]
    campaign_id: str | None
    pinned_calibrations: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    reading_logbook_id: str | None = None
    adjustment_count: int = 0
    last_adjusted_at: datetime | None = None
    last_reason: str | None = None
    interrupted_at: datetime | None = None
    #: The dataset of record: the Bluesky run(s) holding the data.
    datasets: tuple[DatasetRef, ...] = ()
    summary: Mapping[str, Any] | None = None
    #: Holds so far, the time they lasted (each from its RunHeld to its RunResumed, or to the
    #: run's end), and when the current one began (``None`` while not held).
    hold_count: int = 0
    time_held: timedelta = timedelta(0)
    held_since: datetime | None = None
    #: The Active clearances that covered the run when it started: what authorized it.
    clearance_ids: tuple[str, ...] = ()
    #: Set for a run imported from a catalog (see :func:`decide_import`).
    imported: ImportedFrom | None = None


# --- commands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StartRun:
    run_id: str
    name: str
    plan_id: str
    subject_id: str | None = None
    raid: str | None = None
    override_parameters: Mapping[str, Any] = field(default_factory=dict)
    triggered_by: str | None = None
    external_refs: tuple[Any, ...] = ()
    campaign_id: str | None = None
    #: ``None`` pins the active revisions of the run's assets (AsShot).
    pinned_calibrations: tuple[str, ...] | None = None
    #: Assets bound in addition to the Plan's own.
    asset_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class HoldRun:
    run_id: str


@dataclass(frozen=True)
class ResumeRun:
    run_id: str


@dataclass(frozen=True)
class CompleteRun:
    run_id: str


@dataclass(frozen=True)
class AbortRun:
    run_id: str
    reason: str


@dataclass(frozen=True)
class StopRun:
    run_id: str
    reason: str


@dataclass(frozen=True)
class TruncateRun:
    run_id: str
    reason: str
    interrupted_at: datetime | None = None


@dataclass(frozen=True)
class AdjustRun:
    run_id: str
    parameter_patch: Mapping[str, Any]
    reason: str
    decided_by_decision_id: str | None = None


@dataclass(frozen=True)
class LinkRunDataset:
    run_id: str
    start_uid: str
    uri: str
    scan_id: int | None = None


@dataclass(frozen=True)
class SealRunDataset:
    """The digest of a linked Bluesky run's documents, as the RunEngine emitted them."""

    run_id: str
    start_uid: str
    digest: str
    canonical_form: str
    documents: int


@dataclass(frozen=True)
class SummarizeRun:
    run_id: str
    summary: Mapping[str, Any]


@dataclass(frozen=True)
class JoinRunAssets:
    """Equipment the running plan reached that the run did not start with."""

    run_id: str
    asset_ids: tuple[str, ...]
    #: The device names the plan addressed, for the record and the refusal.
    devices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reading:
    """One reading offered to the run's logbook."""

    event_id: str
    channel_name: str
    value: float
    sampling_procedure: str
    sampled_at: datetime
    units: str | None = None


@dataclass(frozen=True)
class ImportRun:
    """A finished Bluesky run read from a catalog, recorded in one append: never gated.

    Plans, subjects and assets are ids the importer matched in the record; what it could not
    match travels as ``external_refs`` and ``bluesky_plan``.
    """

    run_id: str
    name: str
    source: str
    start_uid: str
    uri: str
    started_at: datetime
    ending: Ending
    plan_id: str | None = None
    bluesky_plan: str | None = None
    scan_id: int | None = None
    subject_id: str | None = None
    asset_ids: tuple[str, ...] = ()
    external_refs: tuple[Any, ...] = ()
    readings: tuple[Reading, ...] = ()
    #: the digest of the documents as the catalog held them, and how many it covers
    digest: str | None = None
    documents: int | None = None


@dataclass(frozen=True)
class AppendRunReading:
    """Readings for the logbook, one or a batch (a recorder flushes many at once)."""

    run_id: str
    readings: tuple[Reading, ...]


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    name: str
    plan_id: str
    method_id: str
    subject_id: str | None
    raid: str | None
    asset_ids: tuple[str, ...]
    override_parameters: Mapping[str, Any]
    effective_parameters: Mapping[str, Any]
    triggered_by: str | None
    external_refs: tuple[ExternalRef, ...]
    campaign_id: str | None
    pinned_calibrations: tuple[str, ...]
    occurred_at: datetime
    # added after streams held starts: absent there, it reads as unknown (empty)
    clearance_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunImported:
    """A run read from a catalog; ``occurred_at`` is when it started, ``imported_at`` when it was read."""

    run_id: str
    name: str
    plan_id: str | None
    method_id: str | None
    subject_id: str | None
    asset_ids: tuple[str, ...]
    external_refs: tuple[ExternalRef, ...]
    source: str
    bluesky_plan: str | None
    imported_at: datetime
    occurred_at: datetime


@dataclass(frozen=True)
class RunHeld:
    run_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class RunResumed:
    run_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class RunCompleted:
    run_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class RunAborted:
    run_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class RunStopped:
    run_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class RunTruncated:
    run_id: str
    reason: str
    interrupted_at: datetime | None
    occurred_at: datetime


@dataclass(frozen=True)
class RunAdjusted:
    run_id: str
    parameter_patch: Mapping[str, Any]
    effective_parameters: Mapping[str, Any]
    reason: str
    decided_by_decision_id: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class RunDatasetLinked:
    run_id: str
    start_uid: str
    uri: str
    occurred_at: datetime
    scan_id: int | None = None


@dataclass(frozen=True)
class RunDatasetSealed:
    run_id: str
    start_uid: str
    digest: str
    canonical_form: str
    documents: int
    occurred_at: datetime


@dataclass(frozen=True)
class RunSummarized:
    run_id: str
    summary: Mapping[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class RunAssetsJoined:
    run_id: str
    asset_ids: tuple[str, ...]
    devices: tuple[str, ...]
    #: Hutches the assets added to the run's scope, each permitted when they joined.
    enclosure_ids: tuple[str, ...]
    occurred_at: datetime


@dataclass(frozen=True)
class RunReadingLogbookOpened:
    run_id: str
    logbook_id: str
    schema: str
    occurred_at: datetime


@dataclass(frozen=True)
class RunReading:
    """A row of the reading logbook; written beside the stream, never as an event on it."""

    event_id: str
    run_id: str
    logbook_id: str
    channel_name: str
    value: float
    units: str | None
    sampling_procedure: str
    sampled_at: datetime
    occurred_at: datetime


# --- contexts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StartRunContext(At):
    """Everything the start guards read, loaded by the application before deciding."""

    plan: PlanState | None
    method: MethodState | None
    #: ``None`` when the command names no subject or the subject is unknown.
    subject: SubjectState | None
    #: The bound assets and every asset above them in the containment chain.
    assets: Mapping[str, AssetState]
    #: Checks effective parameters; ``None`` when the Method declares no schema.
    parameter_check: ParameterCheck | None
    #: Clearances that may reference the run's scope (re-checked here).
    clearances: tuple[ClearanceState, ...]
    enclosures: Mapping[str, EnclosureState]
    permits: Mapping[str, Permit]
    #: Active revisions for the bound assets, pinned when the command pins nothing.
    active_calibrations: tuple[str, ...] = ()
    #: Revisions named by explicit pins that the record holds.
    known_calibrations: Mapping[str, CalibrationState] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportContext(At):
    #: the plan the importer matched, if it named one
    plan: PlanState | None
    new_logbook_id: str


@dataclass(frozen=True)
class AdjustContext(At):
    parameter_check: ParameterCheck | None


@dataclass(frozen=True)
class JoinContext(At):
    """The run's and the joining assets' containment chains, and permits of hutches they add."""

    assets: Mapping[str, AssetState]
    enclosures: Mapping[str, EnclosureState]
    permits: Mapping[str, Permit]


@dataclass(frozen=True)
class ReadingsContext(At):
    #: The id to use if this append opens the logbook.
    new_logbook_id: str


#: command -> (allowed source statuses, refusal)
TRANSITIONS = {
    HoldRun: (frozenset({R.RUNNING}), e.RunCannotHoldError),
    ResumeRun: (frozenset({R.HELD}), e.RunCannotResumeError),
    CompleteRun: (frozenset({R.RUNNING}), e.RunCannotCompleteError),
    AbortRun: (frozenset({R.RUNNING, R.HELD}), e.RunCannotAbortError),
    StopRun: (frozenset({R.RUNNING, R.HELD}), e.RunCannotStopError),
    TruncateRun: (frozenset({R.RUNNING, R.HELD}), e.RunCannotTruncateError),
    AdjustRun: (frozenset({R.RUNNING, R.HELD}), e.RunCannotAdjustError),
    AppendRunReading: (frozenset({R.RUNNING, R.HELD}), e.RunReadingLogbookClosedError),
    LinkRunDataset: (frozenset({R.RUNNING, R.HELD}), e.RunCannotLinkDatasetError),
    SealRunDataset: (frozenset({R.RUNNING, R.HELD}), e.RunCannotLinkDatasetError),
    SummarizeRun: (frozenset({R.RUNNING, R.HELD}), e.RunCannotSummarizeError),
    JoinRunAssets: (frozenset({R.RUNNING, R.HELD}), e.RunCannotJoinAssetsError),
}

#: event -> the status it leaves the run in
TARGET = {
    RunHeld: R.HELD,
    RunResumed: R.RUNNING,
    RunCompleted: R.COMPLETED,
    RunAborted: R.ABORTED,
    RunStopped: R.STOPPED,
    RunTruncated: R.TRUNCATED,
}

#: reason-carrying command -> its reason's refusal
REASON_ERRORS = {
    AbortRun: e.InvalidRunAbortReasonError,
    StopRun: e.InvalidRunStopReasonError,
    TruncateRun: e.InvalidRunTruncateReasonError,
    AdjustRun: e.InvalidRunAdjustReasonError,
}

initial_state = None


def is_terminal(state: RunState | None) -> bool:
    return state is not None and state.status in TERMINAL


def decide(command, state: RunState | None, ctx: At) -> tuple:
    """Decide any run command except reading appends (see :func:`decide_readings`)."""
    if isinstance(command, StartRun):
        assert isinstance(ctx, StartRunContext)
        return decide_start(command, state, ctx)
    if state is None:
        raise e.RunNotFoundError(f"no run {command.run_id}", run_id=str(command.run_id))
    why = reason(command.reason, REASON_ERRORS[type(command)]) if type(command) in REASON_ERRORS else None
    sources, refusal = TRANSITIONS[type(command)]
    if state.status not in sources:
        raise refusal(f"run {state.name!r} is {state.status}", run_id=state.id, status=str(state.status))
    now = ctx.now
    match command:
        case HoldRun():
            return (RunHeld(state.id, now),)
        case ResumeRun():
            return (RunResumed(state.id, now),)
        case CompleteRun():
            return (RunCompleted(state.id, now),)
        case AbortRun():
            return (RunAborted(state.id, why, now),)
        case StopRun():
            return (RunStopped(state.id, why, now),)
        case TruncateRun():
            when = interruption(
                command.interrupted_at,
                started_at=state.created_at,
                now=now,
                error=e.InvalidRunInterruptedAtError,
            )
            return (RunTruncated(state.id, why, when, now),)
        case AdjustRun():
            assert isinstance(ctx, AdjustContext)
            return (_adjust(command, state, why, ctx),)
        case LinkRunDataset():
            uid = DATASET_START_UID.check(command.start_uid)
            uri = DATASET_URI.check(command.uri)
            if any(ref.start_uid == uid for ref in state.datasets):
                raise e.RunCannotLinkDatasetError(f"Bluesky run {uid} is already linked", start_uid=uid)
            return (RunDatasetLinked(state.id, uid, uri, now, scan_id(command.scan_id)),)
        case SealRunDataset():
            return (_seal(command, state, now),)
        case SummarizeRun():
            summary = json_object(command.summary, e.InvalidRunSummaryError, what="summary")
            return (RunSummarized(state.id, summary, now),)
        case JoinRunAssets():
            assert isinstance(ctx, JoinContext)
            return _join(command, state, ctx)
    raise TypeError(f"not a run command: {command!r}")


def scan_id(value: Any) -> int | None:
    """A Bluesky ``scan_id``: a whole number from 0, or nothing."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise e.InvalidRunDatasetError(f"scan_id must be a whole number from 0, got {value!r}", field="scan_id")
    return value


def _seal(command: SealRunDataset, state: RunState, now: datetime) -> RunDatasetSealed:
    uid = DATASET_START_UID.check(command.start_uid)
    ref = next((ref for ref in state.datasets if ref.start_uid == uid), None)
    if ref is None:
        raise e.RunCannotLinkDatasetError(f"Bluesky run {uid} is not linked to run {state.name!r}", start_uid=uid)
    if ref.digest is not None:
        raise e.RunCannotLinkDatasetError(f"Bluesky run {uid} is already sealed", start_uid=uid)
    digest = command.digest
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise e.InvalidRunDatasetError("digest must be 64 lowercase hexadecimal digits (SHA-256)", field="digest")
    form = DATASET_CANONICAL_FORM.check(command.canonical_form)
    count = command.documents
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise e.InvalidRunDatasetError("documents must be a count from 1", field="documents")
    return RunDatasetSealed(state.id, uid, digest, form, count, now)


def _adjust(command: AdjustRun, state: RunState, why: str, ctx: AdjustContext) -> RunAdjusted:
    patch = json_object(command.parameter_patch, e.InvalidRunAdjustPatchError, what="parameter_patch")
    if not patch:
        raise e.InvalidRunAdjustPatchError("parameter_patch is empty: nothing to adjust")
    decision = RUN_DECISION_ID.check_optional(command.decided_by_decision_id)
    effective = merge_patch(state.effective_parameters, patch)
    if ctx.parameter_check is not None:
        violations = ctx.parameter_check(effective)
        if violations:
            raise e.InvalidRunAdjustSchemaError(
                f"the adjusted parameters break the Method's schema: {violations[0]}",
                violations=list(violations),
            )
    return RunAdjusted(state.id, patch, effective, why, decision, ctx.now)


def _join(command: JoinRunAssets, state: RunState, ctx: JoinContext) -> tuple:
    """New equipment joins a running plan only if every hutch it adds is permitted now."""
    joining = ASSET_IDS.check_each(command.asset_ids)
    joining = tuple(asset for asset in joining if asset not in state.asset_ids)
    if not joining:
        return ()
    _check_assets(joining, ctx.assets)
    known = set(enclosure_scope(state.asset_ids, ctx.assets))
    added = tuple(hutch for hutch in enclosure_scope(joining, ctx.assets) if hutch not in known)
    devices = tuple(str(name) for name in command.devices)
    details = unpermitted(added, ctx.enclosures, ctx.permits)
    if details:
        raise e.RunRequiresPermittedEnclosureError(
            f"{', '.join(devices) or 'equipment'} in hutch(es) {', '.join(details)} reached run"
            f" {state.name!r} while not permitted ({explain(details)}); the message never reached"
            " the device: search and secure the hutch, then run the plan again",
            hutches=list(details),
            devices=list(devices),
            details=details,
        )
    return (RunAssetsJoined(state.id, joining, devices, added, ctx.now),)


def decide_start(command: StartRun, state: RunState | None, ctx: StartRunContext) -> tuple:
    """The start guards, in the order an operator can most usefully act on them."""
    if state is not None:
        raise e.RunAlreadyExistsError(f"run {command.run_id} already exists", run_id=command.run_id)
    name = RUN_NAME.check(command.name)
    raid = RUN_RAID.check_optional(command.raid)
    triggered_by = RUN_TRIGGERED_BY.check_optional(command.triggered_by)
    campaign = RUN_CAMPAIGN_ID.check_optional(command.campaign_id)
    if isinstance(command.external_refs, (str, Mapping)):
        raise e.InvalidRunExternalRefError("external_refs must be a list of (scheme, id) pairs")
    refs = tuple(dict.fromkeys(ExternalRef.parse(ref, e.InvalidRunExternalRefError) for ref in command.external_refs))

    plan = ctx.plan
    if plan is None:
        raise e.PlanNotFoundError(
            f"no plan {command.plan_id}; register the plan before running it", plan_id=str(command.plan_id)
        )
    if plan.status is PlanStatus.DEPRECATED:
        raise e.PlanDeprecatedError(f"plan {plan.name!r} is deprecated", plan_id=plan.id)
    method = ctx.method
    if method is None or method.id != plan.method_id:
        raise e.MethodNotFoundError(f"plan {plan.name!r} names no known method", method_id=plan.method_id)

    if command.subject_id is not None:
        subject = ctx.subject
        if subject is None:
            raise e.SubjectNotFoundError(f"no subject {command.subject_id}", subject_id=str(command.subject_id))
        if subject.status not in MEASURABLE:
            raise e.SubjectNotMountableError(
                f"subject {subject.name!r} is {subject.status}; mount it first",
                subject_id=subject.id,
                status=str(subject.status),
            )

    extra = ASSET_IDS.check_each(command.asset_ids)
    bound = tuple(dict.fromkeys(plan.asset_ids + extra))
    _check_assets(bound, ctx.assets)
    _check_capabilities(bound, method, ctx.assets)

    overrides = json_object(command.override_parameters, e.InvalidRunParametersError, what="override_parameters")
    effective = merge_patch(plan.default_parameters, overrides)
    if ctx.parameter_check is not None:
        violations = ctx.parameter_check(effective)
        if violations:
            raise e.InvalidRunParametersError(
                f"parameters break the Method's schema: {violations[0]}", violations=list(violations)
            )

    pinned = _pins(command.pinned_calibrations, ctx)

    check_scope(
        command.run_id,
        command.subject_id,
        bound,
        GateContext(ctx.now, ctx.clearances, ctx.assets, ctx.enclosures, ctx.permits),
    )
    authorizing = covering(ctx.clearances, run_id=command.run_id, subject_id=command.subject_id, asset_ids=bound,
                           now=ctx.now)
    check_safety_forms(authorizing, (ref.id for ref in refs if ref.scheme in SAFETY_FORM_SCHEMES))

    return (
        RunStarted(
            run_id=command.run_id,
            name=name,
            plan_id=plan.id,
            method_id=method.id,
            subject_id=command.subject_id,
            raid=raid,
            asset_ids=bound,
            override_parameters=overrides,
            effective_parameters=effective,
            triggered_by=triggered_by,
            external_refs=refs,
            campaign_id=campaign,
            pinned_calibrations=pinned,
            occurred_at=ctx.now,
            clearance_ids=tuple(c.id for c in authorizing),
        ),
    )


def _check_assets(bound: tuple[str, ...], assets: Mapping[str, AssetState]) -> None:
    unknown = [asset for asset in bound if asset not in assets]
    if unknown:
        raise e.AssetNotFoundError(f"no asset {unknown[0]}", asset_id=unknown[0])
    retired = [assets[a].name for a in bound if assets[a].status is AssetStatus.DECOMMISSIONED]
    if retired:
        raise e.RunAssetDecommissionedError(
            f"asset(s) {', '.join(retired)} are decommissioned", assets=retired
        )


def _check_capabilities(bound: tuple[str, ...], method: MethodState, assets: Mapping[str, AssetState]) -> None:
    present = {assets[a].family for a in bound}
    missing = [family for family in method.needed_families if family not in present]
    if missing:
        raise e.RunCapabilitiesNotSatisfiedError(
            f"method {method.name!r} needs asset families {', '.join(missing)} that none of the"
            " run's assets provide",
            missing_families=missing,
        )


def _pins(requested: tuple[str, ...] | None, ctx: StartRunContext) -> tuple[str, ...]:
    if requested is None:
        return tuple(ctx.active_calibrations)
    pins = PINNED_CALIBRATIONS.check_each(requested)
    unknown = [pin for pin in pins if pin not in ctx.known_calibrations]
    if unknown:
        raise e.InvalidPinnedCalibrationsError(
            f"no calibration revision {unknown[0]}", unknown=unknown
        )
    return pins


def decide_import(command: ImportRun, state: RunState | None, ctx: ImportContext) -> tuple[tuple, tuple[RunReading, ...]]:
    """A historic run's events and reading rows, written together or not at all.

    ``RunImported`` opens it (never ``RunStarted``: no gate passed), its dataset is linked and
    sealed with the catalog's digest, its readings open the logbook, and its ending closes it:
    ``RunCompleted`` or ``RunAborted`` at the stop document's time, or ``RunTruncated`` at its
    last document, decided now.
    """
    if state is not None:
        raise e.RunAlreadyExistsError(f"run {command.run_id} already exists", run_id=command.run_id)
    source = IMPORT_SOURCE.check(command.source)
    plan_name = IMPORT_BLUESKY_PLAN.check_optional(command.bluesky_plan)
    name = RUN_NAME.check(command.name)
    refs = tuple(dict.fromkeys(ExternalRef.parse(ref, e.InvalidRunExternalRefError) for ref in command.external_refs))
    started = instant(command.started_at, e.InvalidRunImportError, what="started_at")
    ending = command.ending
    if not isinstance(ending, Ending) or ending.status not in _ENDINGS:
        raise e.InvalidRunImportError(f"an imported run ends {', '.join(_ENDINGS)}", field="ending")
    ended = instant(ending.at, e.InvalidRunImportError, what="ending.at")
    if not started <= ended <= ctx.now:
        raise e.InvalidRunImportError(
            f"an imported run ends between its start {started.isoformat()} and now, not at {ended.isoformat()}",
            field="ending.at",
        )
    plan = None
    if command.plan_id is not None:
        plan = ctx.plan
        if plan is None or plan.id != command.plan_id:
            raise e.PlanNotFoundError(f"no plan {command.plan_id}", plan_id=str(command.plan_id))
    asset_ids = tuple(dict.fromkeys(ASSET_IDS.check_each(command.asset_ids)))
    imported = RunImported(
        run_id=command.run_id, name=name, plan_id=None if plan is None else plan.id,
        method_id=None if plan is None else plan.method_id, subject_id=command.subject_id,
        asset_ids=asset_ids, external_refs=refs, source=source, bluesky_plan=plan_name,
        imported_at=ctx.now, occurred_at=started,
    )
    linked = RunDatasetLinked(command.run_id, DATASET_START_UID.check(command.start_uid),
                              DATASET_URI.check(command.uri), started, scan_id(command.scan_id))
    state = evolve(evolve(None, imported), linked)
    events: list = [imported, linked]
    if command.digest is not None:
        events.append(_seal(SealRunDataset(state.id, linked.start_uid, command.digest, CANONICAL_FORM,
                                           command.documents), state, ended))
    rows: tuple[RunReading, ...] = ()
    if command.readings:
        opened = RunReadingLogbookOpened(state.id, ctx.new_logbook_id, READING_SCHEMA, started)
        events.append(opened)
        rows = tuple(_reading_row(reading, state.id, opened.logbook_id, ctx) for reading in command.readings)
    if ending.status == R.COMPLETED:
        events.append(RunCompleted(state.id, ended))
    elif ending.status == R.ABORTED:
        events.append(RunAborted(state.id, reason(ending.reason, e.InvalidRunImportError), ended))
    else:
        events.append(RunTruncated(state.id, reason(ending.reason, e.InvalidRunImportError), ended, ctx.now))
    return tuple(events), rows


#: How an imported run may end.
_ENDINGS = (R.COMPLETED, R.ABORTED, R.TRUNCATED)


def decide_readings(
    command: AppendRunReading, state: RunState | None, ctx: ReadingsContext
) -> tuple[tuple, tuple[RunReading, ...]]:
    """Validate a batch of readings; returns the events (a lazy logbook open) and the rows."""
    if state is None:
        raise e.RunNotFoundError(f"no run {command.run_id}", run_id=str(command.run_id))
    sources, refusal = TRANSITIONS[AppendRunReading]
    if state.status not in sources:
        raise refusal(
            f"run {state.name!r} is {state.status}; its reading logbook is closed",
            run_id=state.id,
            status=str(state.status),
        )
    events: tuple = ()
    logbook = state.reading_logbook_id
    if logbook is None and command.readings:
        logbook = ctx.new_logbook_id
        events = (RunReadingLogbookOpened(state.id, logbook, READING_SCHEMA, ctx.now),)
    rows = tuple(_reading_row(reading, state.id, logbook, ctx) for reading in command.readings)
    return events, rows


def _reading_row(reading: Reading, run_id: str, logbook: str, ctx: At) -> RunReading:
    procedure = SAMPLING_PROCEDURE.check(reading.sampling_procedure)
    return RunReading(
        event_id=entry_id(reading.event_id, e.InvalidEntryIdError),
        run_id=run_id,
        logbook_id=logbook,
        channel_name=CHANNEL_NAME.check(reading.channel_name),
        value=finite_number(reading.value, e.InvalidReadingValueError, what="value"),
        units=READING_UNITS.check_optional(reading.units),
        sampling_procedure=procedure,
        sampled_at=sampled_at(reading.sampled_at, now=ctx.now, error=e.InvalidReadingSampledAtError),
        occurred_at=ctx.now,
    )


def _opened(event, **rest: Any) -> RunState:
    """A run's first state, from the event that opened it (``RunStarted`` or ``RunImported``)."""
    return RunState(
        id=event.run_id,
        name=event.name,
        plan_id=event.plan_id,
        method_id=event.method_id,
        subject_id=event.subject_id,
        status=R.RUNNING,
        asset_ids=event.asset_ids,
        external_refs=event.external_refs,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
        **rest,
    )


def evolve(state: RunState | None, event) -> RunState:
    if isinstance(event, RunImported):
        return _opened(
            event, raid=None, override_parameters={}, effective_parameters={}, triggered_by=None, campaign_id=None,
            pinned_calibrations=(), imported=ImportedFrom(event.source, event.bluesky_plan, event.imported_at),
        )
    if isinstance(event, RunStarted):
        return _opened(
            event, raid=event.raid, override_parameters=event.override_parameters,
            effective_parameters=event.effective_parameters, triggered_by=event.triggered_by,
            campaign_id=event.campaign_id, pinned_calibrations=event.pinned_calibrations,
            clearance_ids=event.clearance_ids,
        )
    assert state is not None
    if isinstance(event, RunAdjusted):
        return replace(
            state,
            effective_parameters=event.effective_parameters,
            adjustment_count=state.adjustment_count + 1,
            last_adjusted_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
    if isinstance(event, RunReadingLogbookOpened):
        return replace(state, reading_logbook_id=event.logbook_id, updated_at=event.occurred_at)
    if isinstance(event, RunDatasetLinked):
        dataset = DatasetRef(event.start_uid, event.uri, event.scan_id)
        return replace(state, datasets=state.datasets + (dataset,), updated_at=event.occurred_at)
    if isinstance(event, RunDatasetSealed):
        sealed = tuple(
            replace(ref, digest=event.digest, canonical_form=event.canonical_form, documents=event.documents)
            if ref.start_uid == event.start_uid else ref
            for ref in state.datasets
        )
        return replace(state, datasets=sealed, updated_at=event.occurred_at)
    if isinstance(event, RunSummarized):
        return replace(state, summary=event.summary, updated_at=event.occurred_at)
    if isinstance(event, RunAssetsJoined):
        return replace(state, asset_ids=state.asset_ids + event.asset_ids, updated_at=event.occurred_at)
    changes: dict[str, Any] = {"status": TARGET[type(event)], "updated_at": event.occurred_at}
    changes.update(_held(state, event))
    if isinstance(event, (RunAborted, RunStopped, RunTruncated)):
        changes["last_reason"] = event.reason
    if isinstance(event, RunTruncated):
        changes["interrupted_at"] = event.interrupted_at
    return replace(state, **changes)


def _held(state: RunState, event) -> dict[str, Any]:
    """How a status change moves the time held: a hold starts it, anything else ends it."""
    if isinstance(event, RunHeld):
        return {"hold_count": state.hold_count + 1, "held_since": event.occurred_at}
    if state.held_since is None:
        return {}
    return {"time_held": state.time_held + (event.occurred_at - state.held_since), "held_since": None}


EVENTS = (
    RunStarted,
    RunHeld,
    RunResumed,
    RunCompleted,
    RunAborted,
    RunStopped,
    RunTruncated,
    RunAdjusted,
    RunReadingLogbookOpened,
    RunDatasetLinked,
    RunSummarized,
    RunAssetsJoined,
    RunDatasetSealed,
    RunImported,
)
