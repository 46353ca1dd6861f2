"""RunEngine commands behind the plan stubs, answered by the record on the RunEngine thread."""

from __future__ import annotations

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.calibration import CalibrationSource


class CoraCommands:
    """Handlers registered with ``RE.register_command`` by ``install``."""

    def __init__(self, record, gate) -> None:
        self.record = record
        self.gate = gate

    def register(self, RE) -> None:
        for name, handler in (
            ("cora_adjust", self.adjust),
            ("cora_parameters", self.parameters),
            ("cora_report_calibration", self.report_calibration),
            ("cora_require_procedure", self.require_procedure),
        ):
            RE.register_command(name, handler)

    def _open_run(self) -> str:
        runs = self.gate.open_runs()
        if not runs:
            raise e.RunNotFoundError("no CORA run is open in this RunEngine")
        return runs[-1]

    def _procedure(self) -> str:
        innermost = self.gate.innermost()
        if innermost is None or innermost[0] != "procedure":
            raise e.InvalidCalibrationSourceError(
                "calibrations and steps come from Procedures, never from Runs: wrap the plan with"
                " procedure_wrapper(...)"
            )
        return innermost[1]

    async def adjust(self, msg):
        """cora: steer the open Run with a merge patch and a reason (the ``adjust`` plan stub)."""
        run = self.record.adjust_run(
            self._open_run(),
            parameter_patch=msg.kwargs["patch"],
            reason=msg.kwargs["reason"],
            decided_by_decision_id=msg.kwargs.get("decided_by"),
        )
        return dict(run.effective_parameters)

    async def parameters(self, msg):
        """cora: the open Run's effective parameters (the ``current_parameters`` plan stub)."""
        return dict(self.record.get_run(self._open_run()).effective_parameters)

    async def require_procedure(self, msg):
        """cora: refuse a procedure step outside a Procedure (the step plan stubs)."""
        self._procedure()
        return True

    async def report_calibration(self, msg):
        """cora: record a calibration sourced from the open Procedure (``report_calibration``)."""
        procedure = self._procedure()
        asset = msg.kwargs["asset"]
        matches = [a.id for a in self.record.assets_for_devices([asset])]
        revision = self.record.record_calibration(
            asset_id=matches[0] if matches else asset,
            quantity=msg.kwargs["quantity"],
            value=msg.kwargs["value"],
            units=msg.kwargs.get("units"),
            source=CalibrationSource.procedure(procedure),
        )
        return revision.id
