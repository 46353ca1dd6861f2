"""The closed status sets every store enforces, whatever its means of enforcing them."""

from __future__ import annotations

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
