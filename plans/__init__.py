"""RunEngine-side pieces of cora-bluesky: the start gate, the procedure declaration,
the gated-resume suspender and the plan stubs.

Importing this module opens no database, touches no network and imports neither fastapi nor
pymongo.
"""

from cora_bluesky.plans.gate import CoraGate
from cora_bluesky.plans.procedures import PROCEDURE_KEY, procedure_decorator, procedure_wrapper
from cora_bluesky.plans.stubs import action, adjust, check, current_parameters, report_calibration, setpoint
from cora_bluesky.plans.supervisor import GatedSuspendFloor

__all__ = [
    "PROCEDURE_KEY",
    "CoraGate",
    "GatedSuspendFloor",
    "action",
    "adjust",
    "check",
    "current_parameters",
    "procedure_decorator",
    "procedure_wrapper",
    "report_calibration",
    "setpoint",
]
