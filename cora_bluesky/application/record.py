"""The Record: one facade over every use case, named after the spec's tool verbs."""

from __future__ import annotations

from cora_bluesky.application.access import AccessCommands
from cora_bluesky.application.authorization import Authorization, guard_slices
from cora_bluesky.application.equipment import EquipmentCommands
from cora_bluesky.application.procedures import ProcedureCommands
from cora_bluesky.application.recipes import RecipeCommands
from cora_bluesky.application.run_data import RunDataQueries
from cora_bluesky.application.run_imports import RunImports
from cora_bluesky.application.runs import RunCommands
from cora_bluesky.application.principals import PrincipalCommands
from cora_bluesky.application.safety import SafetyCommands
from cora_bluesky.application.timeline import TimelineQueries


@guard_slices
class Record(
    RunCommands,
    RunDataQueries,
    RunImports,
    ProcedureCommands,
    SafetyCommands,
    EquipmentCommands,
    RecipeCommands,
    AccessCommands,
    PrincipalCommands,
    TimelineQueries,
    Authorization,
):
    """The beamline's system of record.

    Build one with :func:`cora_bluesky.connect`. Every write decides against the current state
    and appends atomically; every refusal is a named :class:`~cora_bluesky.errors.CoraError`
    and writes nothing. Every slice checks first that the acting principal's roles include the
    duty its row names. Use :meth:`bound` to act for another principal.
    """
