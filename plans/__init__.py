"""RunEngine-side pieces of cora-bluesky: the start gate and the procedure declaration.

Importing this module opens no database, touches no network and imports neither fastapi nor
pymongo.
"""

from cora_bluesky.plans.gate import CoraGate
from cora_bluesky.plans.procedures import PROCEDURE_KEY, procedure_decorator, procedure_wrapper
from cora_bluesky.plans.supervisor import GatedSuspendFloor

__all__ = ["PROCEDURE_KEY", "CoraGate", "GatedSuspendFloor", "procedure_decorator", "procedure_wrapper"]
