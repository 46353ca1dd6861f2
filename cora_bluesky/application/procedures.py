"""Procedure use cases: register, start on live equipment, log steps, close."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from cora_bluesky.application.aggregates import ASSET, PROCEDURE
from cora_bluesky.application.core import RecordCore, new_id
from cora_bluesky.application.ports import Page
from cora_bluesky.domain import errors as e
from cora_bluesky.domain import procedure as p
from cora_bluesky.domain.procedure import ProcedureState
from cora_bluesky.domain.values import At


class ProcedureCommands(RecordCore):
    def register_procedure(
        self,
        *,
        name: str,
        kind: str,
        target_asset_ids: Iterable[str] = (),
        parent_run_id: str | None = None,
        capability_id: str | None = None,
        procedure_id: str | None = None,
    ) -> ProcedureState:
        """Register a procedure (Defined); ``parent_run_id`` makes it a phase of that run."""
        command = _registration(name, kind, target_asset_ids, parent_run_id, capability_id, procedure_id)
        return self._decide(command)

    def start_procedure(self, procedure_id: str) -> ProcedureState:
        """Start a Defined procedure; refused if a target asset is unknown or decommissioned."""
        command = p.StartProcedure(procedure_id)
        return self._write(
            PROCEDURE, procedure_id, lambda state: p.decide(command, state, self._procedure_start_context(state)), command
        )

    def _procedure_start_context(self, state: ProcedureState | None) -> p.StartProcedureContext:
        targets = state.target_asset_ids if state is not None else ()
        return p.StartProcedureContext(self.now(), self._views(ASSET, targets))

    def start_new_procedure(
        self,
        *,
        name: str,
        kind: str,
        target_asset_ids: Iterable[str] = (),
        parent_run_id: str | None = None,
        capability_id: str | None = None,
        procedure_id: str | None = None,
    ) -> ProcedureState:
        """Register and start a procedure in one write: refused, it leaves nothing behind."""
        register = _registration(name, kind, target_asset_ids, parent_run_id, capability_id, procedure_id)
        start = p.StartProcedure(register.procedure_id)

        def decide(state: ProcedureState | None) -> tuple:
            registered = p.decide(register, state, At(self.now()))
            defined = PROCEDURE.fold(registered)
            return registered + p.decide(start, defined, self._procedure_start_context(defined))

        return self._write(PROCEDURE, register.procedure_id, decide, start)

    def complete_procedure(self, procedure_id: str) -> ProcedureState:
        """Complete a Running procedure."""
        return self._decide(p.CompleteProcedure(procedure_id))

    def abort_procedure(self, procedure_id: str, *, reason: str) -> ProcedureState:
        """Abort a Running procedure with a reason."""
        return self._decide(p.AbortProcedure(procedure_id, reason))

    def truncate_procedure(
        self, procedure_id: str, *, reason: str, interrupted_at: datetime | None = None
    ) -> ProcedureState:
        """Close a procedure that died unwatched."""
        return self._decide(p.TruncateProcedure(procedure_id, reason, interrupted_at))

    def _decide(self, command: Any) -> ProcedureState:
        return self._write(
            PROCEDURE, command.procedure_id, lambda state: p.decide(command, state, At(self.now())), command
        )

    def append_procedure_step(
        self, procedure_id: str, entries: Iterable[p.Step | Mapping[str, Any]]
    ) -> int:
        """Append steps (setpoint, action, check); returns how many were new.

        Each entry carries a producer-supplied ``event_id``: re-sending one is a silent no-op.
        """
        batch = tuple(_step(entry) for entry in entries)
        command = p.AppendProcedureStep(procedure_id, batch)

        def decide(state: ProcedureState | None) -> tuple:
            events, rows = p.decide_steps(command, state, p.StepsContext(self.now(), new_id()))
            return events, (), rows

        return self._execute(PROCEDURE, procedure_id, decide, command)[2]

    def get_procedure(self, procedure_id: str) -> ProcedureState:
        """The procedure's current state."""
        return self._require(PROCEDURE, procedure_id, e.ProcedureNotFoundError)

    def list_procedures(
        self,
        *,
        status: str | None = None,
        created_from: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Procedures, newest registration first."""
        return self._page(
            PROCEDURE,
            limit=limit,
            cursor=cursor,
            status=status,
            created_from=created_from,
            created_before=created_before,
        )

    def list_procedure_steps(self, procedure_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """The procedure's steps in ``sampled_at`` order."""
        self.get_procedure(procedure_id)
        return self._timed(self.store.steps(procedure_id, limit=limit))


def _registration(name, kind, target_asset_ids, parent_run_id, capability_id, procedure_id) -> p.RegisterProcedure:
    return p.RegisterProcedure(
        procedure_id or new_id(), name, kind, tuple(target_asset_ids), parent_run_id, capability_id
    )


def _step(entry: p.Step | Mapping[str, Any]) -> p.Step:
    if isinstance(entry, p.Step):
        return entry
    if not isinstance(entry, Mapping):
        raise e.InvalidStepPayloadError("a step is a mapping of its fields")
    try:
        return p.Step(**entry)
    except TypeError as error:
        raise e.InvalidStepPayloadError(f"malformed step: {error}") from None
