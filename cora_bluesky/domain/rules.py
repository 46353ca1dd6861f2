"""Field rules, declared once: bounds, allowed values and the spec's error for each field.

The deciders check values with these rules; the request models, the SQLite CHECK constraints
and the MongoDB collection validator derive their own checks from them, so a bound changed here
changes everywhere. Text is trimmed (Python's :meth:`str.strip`) before it is bounded, as the
spec's value objects say ("trimmed string, 1-200 chars"), and never holds NUL characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.readable import text_problem

#: Every character :meth:`str.strip` removes and :meth:`str.isspace` reports, spelled out:
#: regular-expression engines disagree on what ``\s`` means.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)

#: Ids are opaque text of at most this many characters.
ID_LENGTH = 100
#: Free-form reasons (abort, stop, truncate, adjust, reject, supersede).
REASON_LENGTH = 500


@dataclass(frozen=True)
class TextRule:
    """Trimmed text of ``low``-``high`` characters, without NUL, refused with ``error``.

    Parameters
    ----------
    field : str
        The field's name, as refusals report it.
    error : type[CoraError]
        The spec's error for a value outside the rule.
    high, low : int
        Bounds on the length after trimming.
    spaced : bool
        Whether whitespace may appear inside the text (``False`` for EPICS PV names).
    """

    field: str
    error: type[e.CoraError]
    high: int
    low: int = 1
    spaced: bool = True

    @property
    def name(self) -> str:
        """The spec's name of the refusal (the error class without ``Error``)."""
        return self.error.__name__.removesuffix("Error")

    def check(self, value: Any, *, what: str | None = None) -> str:
        """Return ``value`` trimmed, or raise :attr:`error`."""
        what = what or self.field
        if not isinstance(value, str):
            raise self.error(f"{what} must be text, got {type(value).__name__}", field=what)
        trimmed = value.strip()
        if not self.low <= len(trimmed) <= self.high:
            raise self.error(
                f"{what} must be {self.low}-{self.high} characters after trimming, got {len(trimmed)}",
                field=what,
                length=len(trimmed),
            )
        problem = text_problem(trimmed)
        if problem:
            raise self.error(f"{what} {problem}", field=what)
        if not self.spaced and any(ch.isspace() for ch in trimmed):
            raise self.error(f"{what} {trimmed!r} contains whitespace", field=what)
        return trimmed

    def check_optional(self, value: Any, *, what: str | None = None) -> str | None:
        """Like :meth:`check`, but ``None`` (absent) passes through."""
        return None if value is None else self.check(value, what=what)

    def check_each(self, values: Any, *, what: str | None = None) -> tuple[str, ...]:
        """Check every entry of a list and refuse duplicates; order is kept."""
        what = what or self.field
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise self.error(f"{what} must be a list of texts", field=what)
        seen: dict[str, None] = {}
        for value in values:
            item = self.check(value, what=what)
            if item in seen:
                raise self.error(f"{what} lists {item!r} twice", field=what, duplicate=item)
            seen[item] = None
        return tuple(seen)


@dataclass(frozen=True)
class ChoiceRule:
    """One of a closed set of values, exactly as spelled, refused with ``error``."""

    field: str
    error: type[e.CoraError]
    allowed: tuple[str, ...]

    @property
    def name(self) -> str:
        """The spec's name of the refusal (the error class without ``Error``)."""
        return self.error.__name__.removesuffix("Error")

    def check(self, value: Any) -> str:
        """Return ``value`` if it is one of :attr:`allowed`, or raise :attr:`error`."""
        if not isinstance(value, str) or value not in self.allowed:
            raise self.error(
                f"{self.field} must be one of {sorted(self.allowed)}, got {value!r}",
                **{self.field: str(value)},
            )
        return value


Rule = TextRule | ChoiceRule


def reason_rule(error: type[e.CoraError]) -> TextRule:
    """A required free-form reason refused with ``error``."""
    return TextRule("reason", error, REASON_LENGTH)


# --- Run (run-module.md, Value Objects and entries_run_readings) -----------------------------
RUN_NAME = TextRule("name", e.InvalidRunNameError, 200)
RUN_RAID = TextRule("raid", e.InvalidRunRaidError, 255)
RUN_TRIGGERED_BY = TextRule("triggered_by", e.InvalidRunTriggeredByError, 200)
RUN_CAMPAIGN_ID = TextRule("campaign_id", e.InvalidRunCampaignIdError, ID_LENGTH)
EXTERNAL_REF_SCHEME = TextRule("external_refs.scheme", e.InvalidRunExternalRefError, 50)
EXTERNAL_REF_ID = TextRule("external_refs.id", e.InvalidRunExternalRefError, 200)
RUN_ABORT_REASON = reason_rule(e.InvalidRunAbortReasonError)
RUN_STOP_REASON = reason_rule(e.InvalidRunStopReasonError)
RUN_TRUNCATE_REASON = reason_rule(e.InvalidRunTruncateReasonError)
RUN_ADJUST_REASON = reason_rule(e.InvalidRunAdjustReasonError)
RUN_DECISION_ID = TextRule("decided_by_decision_id", e.InvalidRunDecisionIdError, 200)
DATASET_START_UID = TextRule("start_uid", e.InvalidRunDatasetError, ID_LENGTH)
DATASET_URI = TextRule("uri", e.InvalidRunDatasetError, 2000)
DATASET_CANONICAL_FORM = TextRule("canonical_form", e.InvalidRunDatasetError, 100)
#: Where an imported run was read from, and the Bluesky plan its start document names.
IMPORT_SOURCE = TextRule("source", e.InvalidRunImportError, 2000)
IMPORT_BLUESKY_PLAN = TextRule("bluesky_plan", e.InvalidRunImportError, 200)
PINNED_CALIBRATIONS = TextRule("pinned_calibrations", e.InvalidPinnedCalibrationsError, ID_LENGTH)
ASSET_IDS = TextRule("asset_ids", e.InvalidAssetIdsError, ID_LENGTH)
CHANNEL_NAME = TextRule("channel_name", e.InvalidChannelNameError, 255)
READING_UNITS = TextRule("units", e.InvalidReadingUnitsError, 64)
SAMPLING_PROCEDURE = ChoiceRule("sampling_procedure", e.InvalidSamplingProcedureError, ("baseline", "monitor"))
ENTRY_ID = TextRule("event_id", e.InvalidEntryIdError, ID_LENGTH)

# --- Operation (operation-module.md) -------------------------------------------------------
PROCEDURE_NAME = TextRule("name", e.InvalidProcedureNameError, 200)
PROCEDURE_KIND = TextRule("kind", e.InvalidProcedureKindError, 50)
PROCEDURE_CAPABILITY_ID = TextRule("capability_id", e.InvalidProcedureKindError, ID_LENGTH)
PROCEDURE_ABORT_REASON = reason_rule(e.InvalidProcedureAbortReasonError)
PROCEDURE_TRUNCATE_REASON = reason_rule(e.InvalidProcedureTruncateReasonError)
STEP_KIND = ChoiceRule("step_kind", e.InvalidStepKindError, ("setpoint", "action", "check"))

# --- Safety -----------------------------------------------------------------------------------
CLEARANCE_TITLE = TextRule("title", e.InvalidClearanceTitleError, 200)
CLEARANCE_HAZARDS = TextRule("hazards", e.InvalidClearanceHazardsError, 200)
CLEARANCE_BINDINGS = TextRule("bindings", e.InvalidClearanceBindingsError, ID_LENGTH)
CLEARANCE_REASON = reason_rule(e.InvalidClearanceReasonError)
CLEARANCE_FORM_NUMBER = TextRule("form_number", e.InvalidClearanceFormNumberError, ID_LENGTH)

# --- Equipment --------------------------------------------------------------------------------
ASSET_NAME = TextRule("name", e.InvalidAssetNameError, 200)
ASSET_FAMILY = TextRule("family", e.InvalidAssetFamilyError, 100)
ASSET_DEVICE_NAMES = TextRule("device_names", e.InvalidAssetDeviceNamesError, 200)
ENCLOSURE_NAME = TextRule("name", e.InvalidEnclosureNameError, 100)
ENCLOSURE_PV = TextRule("pv", e.InvalidEnclosurePvError, 200, spaced=False)

# --- Subjects, recipes, calibrations, access -----------------------------------------------
SUBJECT_NAME = TextRule("name", e.InvalidSubjectNameError, 200)
METHOD_NAME = TextRule("name", e.InvalidMethodNameError, 200)
METHOD_FAMILIES = TextRule("needed_families", e.InvalidMethodFamiliesError, 100)
PLAN_NAME = TextRule("name", e.InvalidPlanNameError, 200)
PLAN_BLUESKY_NAMES = TextRule("bluesky_names", e.InvalidPlanBlueskyNamesError, 200)
CALIBRATION_QUANTITY = TextRule("quantity", e.InvalidCalibrationQuantityError, 100)
CALIBRATION_UNITS = TextRule("units", e.InvalidCalibrationUnitsError, 64)
CALIBRATION_SOURCE_REF = TextRule("source", e.InvalidCalibrationSourceError, 500)
CALIBRATION_CHECKSUM = TextRule("source.checksum", e.InvalidCalibrationSourceError, 200)
TOKEN_PRINCIPAL = TextRule("principal", e.InvalidTokenPrincipalError, 200)
TOKEN_SECRET_HASH = TextRule("secret_hash", e.InvalidTokenPrincipalError, 200)

#: Every rule above, for the edges and the tests that prove they agree.
RULES: tuple[Rule, ...] = tuple(value for value in list(globals().values()) if isinstance(value, (TextRule, ChoiceRule)))
