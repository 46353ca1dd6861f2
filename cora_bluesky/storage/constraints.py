"""What every store enforces, whatever its means of enforcing it: closed status sets, and the
bounds and allowed values of the columns the spec constrains, taken from the domain's rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cora_bluesky.domain import errors as e
from cora_bluesky.domain import rules
from cora_bluesky.domain.clearance import ClearanceStatus
from cora_bluesky.domain.equipment import AssetStatus
from cora_bluesky.domain.procedure import ProcedureStatus
from cora_bluesky.domain.recipe import PlanStatus
from cora_bluesky.domain.run import RunStatus
from cora_bluesky.domain.subject import SubjectStatus

#: aggregate kind -> the statuses its projection row may carry
STATUSES: dict[str, frozenset[str]] = {
    kind: frozenset(status.value for status in enum)
    for kind, enum in (
        ("run", RunStatus),
        ("procedure", ProcedureStatus),
        ("clearance", ClearanceStatus),
        ("subject", SubjectStatus),
        ("asset", AssetStatus),
        ("plan", PlanStatus),
    )
}

#: aggregate kind -> the rule the ``name`` of its projection row obeys
NAME_RULES: dict[str, rules.TextRule] = {
    "run": rules.RUN_NAME,
    "procedure": rules.PROCEDURE_NAME,
    "plan": rules.PLAN_NAME,
    "method": rules.METHOD_NAME,
    "subject": rules.SUBJECT_NAME,
    "asset": rules.ASSET_NAME,
}


@dataclass(frozen=True)
class Column:
    """A constrained column: the rule its stored (already trimmed) value obeys."""

    rule: rules.Rule
    optional: bool = False

    def problem(self, name: str, value: Any) -> str | None:
        """Why ``value`` may not be stored in the column, or ``None``."""
        if value is None:
            return None if self.optional else f"{name} is required"
        if not isinstance(value, str):
            return f"{name} must be text"
        if isinstance(self.rule, rules.ChoiceRule):
            return None if value in self.rule.allowed else f"{name} must be one of {sorted(self.rule.allowed)}"
        if not self.rule.low <= len(value) <= self.rule.high:
            return f"{name} must be {self.rule.low}-{self.rule.high} characters"
        return None


#: logbook table -> its constrained columns
LOGBOOK_COLUMNS: dict[str, dict[str, Column]] = {
    "entries_run_readings": {
        "channel_name": Column(rules.CHANNEL_NAME),
        "units": Column(rules.READING_UNITS, optional=True),
        "sampling_procedure": Column(rules.SAMPLING_PROCEDURE),
    },
    "entries_operation_procedure_steps": {
        "step_kind": Column(rules.STEP_KIND),
    },
}


def check_entry(table: str, row: dict[str, Any]) -> None:
    """Raise :class:`StoreConstraintError` if a logbook row breaks a column's rule."""
    for name, column in LOGBOOK_COLUMNS[table].items():
        problem = column.problem(name, row.get(name))
        if problem:
            raise e.StoreConstraintError(problem)
