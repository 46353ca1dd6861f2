"""The start gate: a preprocessor that starts each run in the record before ``open_run``.

The record decides with its own guards (an Active clearance covering the scope, every hutch in
the derived enclosure scope permitted). A refusal is raised inside the plan, so the user plan's
cleanup runs, no document is emitted and nothing is written.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Mapping

from bluesky.utils import ensure_generator

from cora_bluesky.domain import errors as e
from cora_bluesky.plans.procedures import PROCEDURE_KEY

#: Start-document keys only the gate writes.
RESERVED_KEYS = frozenset({"cora_run_id", "cora_procedure_id"})

#: Metadata keys that name upstream concepts, and the external-reference scheme each becomes.
EXTERNAL_REF_KEYS = {
    "proposal_id": "proposal",
    "proposal": "proposal",
    "esaf_id": "esaf",
    "esaf": "esaf",
    "safety_form": "safety_form",
    "data_session": "data_session",
    "beamtime_id": "beamtime",
}


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return [item for item in value if isinstance(item, str)]
    return []


class CoraGate:
    """Start every run the RunEngine opens in the record first, or refuse it.

    A callable-class preprocessor, like ``SupplementalData``: it lives across runs so that it
    knows which CORA runs are open (a procedure opened inside one is a phase of it).

    Parameters
    ----------
    record : cora_bluesky.Record
        The record to start runs in.
    RE : RunEngine, optional
        Held so that ``RE.md`` and per-call metadata (where queueserver item meta lands) are
        merged as the RunEngine itself will merge them.
    principal : str, optional
        Recorded as ``triggered_by``; else ``RE.md['operator']``, else the record's principal.
    """

    def __init__(self, record, RE=None, *, principal: str | None = None) -> None:
        self.record = record
        self.RE = RE
        self.principal = principal
        self._lock = threading.Lock()
        #: start uid -> ("run" | "procedure", CORA id), in opening order
        self._open: dict[str, tuple[str, str]] = {}
        #: Whether the RunEngine emitted the start document of a CORA id (set by ``install``): an
        #: emitted run is open, whatever failed after, and its stop document ends it.
        self.emitted: Callable[[str], bool] = lambda ident: False

    def __call__(self, plan):
        """Forward every message of ``plan``, starting each run in the record at its ``open_run``.

        A lean forwarder rather than ``plan_mutator``: it sits in front of every message of
        every scan, so it does nothing but pass messages, replies and exceptions through.
        """
        plan = ensure_generator(plan)
        reply, error = None, None
        while True:
            try:
                msg = plan.send(reply) if error is None else plan.throw(error)
            except StopIteration as done:
                return done.value
            error = None
            try:
                if msg.command == "open_run":
                    reply = yield from self._open_run(msg)
                else:
                    reply = yield msg
            except GeneratorExit:
                plan.close()
                raise
            except Exception as failure:  # a refusal, or what the RunEngine threw: the plan's to handle
                error, reply = failure, None

    # --- bookkeeping of open runs ---------------------------------------------------------

    def document(self, name: str, doc: Mapping[str, Any]) -> None:
        """Document callback: forget a run once its stop document is out."""
        if name == "stop":
            with self._lock:
                self._open.pop(doc.get("run_start"), None)

    def innermost(self) -> tuple[str, str] | None:
        """``(kind, CORA id)`` of the innermost open run or procedure, if any."""
        with self._lock:
            return next(reversed(self._open.values()), None)

    def open_runs(self) -> list[str]:
        """CORA ids of the runs (not procedures) open in this RunEngine, outermost first."""
        with self._lock:
            return [ident for kind, ident in self._open.values() if kind == "run"]

    # --- the gate -------------------------------------------------------------------------

    def merged_metadata(self, msg) -> dict[str, Any]:
        """The metadata the start document will carry, in the RunEngine's order of precedence."""
        md: dict[str, Any] = {}
        if self.RE is not None:
            md.update(self.RE.md)
            md["plan_name"] = getattr(getattr(self.RE, "_plan", None), "__name__", "")
        md.update(msg.kwargs)
        if self.RE is not None:
            md.update(getattr(self.RE, "_metadata_per_call", {}))
        return md

    def _open_run(self, msg):
        md = self.merged_metadata(msg)
        reserved = sorted(RESERVED_KEYS & md.keys())
        if reserved:
            raise e.ReservedMetadataError(
                f"{', '.join(reserved)} is written by the cora-bluesky gate; remove it from the metadata",
                keys=reserved,
            )
        if PROCEDURE_KEY in md:
            kind, ident = "procedure", self._start_procedure(md)
        else:
            kind, ident = "run", self._start_run(md)
        try:
            uid = yield msg._replace(kwargs={**msg.kwargs, f"cora_{kind}_id": ident})
        except BaseException as failure:
            self._close_unopened(kind, ident, failure)
            raise
        with self._lock:
            self._open[uid] = (kind, ident)
        return uid

    def _plan_id(self, md: Mapping[str, Any]) -> str:
        if md.get("cora_plan_id"):
            return str(md["cora_plan_id"])
        name = md.get("plan_name")
        if not isinstance(name, str) or not name:
            raise e.PlanNotFoundError(
                "this run names no Bluesky plan; pass cora_plan_id in the metadata or register a"
                " CORA plan under the plan's name",
            )
        return self.record.find_plan(name).id

    def _assets(self, asset_ids: Iterable[str], devices: Iterable[str]) -> list[str]:
        """The given asset ids plus every asset answering to one of the ophyd device names."""
        devices = list(devices)
        found = [asset.id for asset in self.record.assets_for_devices(devices)] if devices else []
        return list(dict.fromkeys([*asset_ids, *found]))

    def _start_run(self, md: Mapping[str, Any]) -> str:
        plan_name = md.get("plan_name") or "bluesky run"
        run = self.record.start_run(
            name=str(md.get("cora_run_name") or plan_name)[:200],
            plan_id=self._plan_id(md),
            subject_id=md.get("subject_id"),
            override_parameters=md.get("cora_parameters") or {},
            asset_ids=self._assets(
                _names(md.get("cora_asset_ids")), _names(md.get("detectors")) + _names(md.get("motors"))
            ),
            triggered_by=self.principal or md.get("operator") or self.record.principal,
            external_refs=[
                (scheme, str(md[key]))
                for key, scheme in EXTERNAL_REF_KEYS.items()
                if isinstance(md.get(key), (str, int)) and not isinstance(md.get(key), bool) and str(md[key]).strip()
            ],
        )
        return run.id

    def _start_procedure(self, md: Mapping[str, Any]) -> str:
        declared = md[PROCEDURE_KEY]
        if not isinstance(declared, Mapping):
            raise e.InvalidProcedureNameError(f"{PROCEDURE_KEY} must be the mapping procedure_wrapper writes")
        open_runs = self.open_runs()
        procedure = self.record.start_new_procedure(
            name=declared.get("name"),
            kind=declared.get("kind"),
            target_asset_ids=self._assets(
                _names(declared.get("target_asset_ids")), _names(declared.get("target_devices"))
            ),
            parent_run_id=open_runs[-1] if open_runs else None,
        )
        return procedure.id

    def _close_unopened(self, kind: str, ident: str, failure: BaseException) -> None:
        """The RunEngine failed to open a run the record started: close it honestly."""
        if self.emitted(ident):
            return  # a callback raised after the start was out: the run did open
        reason = f"the RunEngine did not open the run: {type(failure).__name__}: {failure}"[:500]
        try:
            if kind == "run":
                self.record.abort_run(ident, reason=reason)
            else:
                self.record.abort_procedure(ident, reason=reason)
        except e.CoraError:
            pass  # the original failure is what the caller needs to see
