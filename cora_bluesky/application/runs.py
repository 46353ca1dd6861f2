"""Run use cases: start behind both gates, steer, hold, end, and keep the reading logbook."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from cora_bluesky.application.aggregates import CALIBRATION, CLEARANCE, ENCLOSURE, METHOD, PLAN, RUN, SUBJECT
from cora_bluesky.application.codec import parse_timestamp
from cora_bluesky.application.core import RecordCore, new_id
from cora_bluesky.application.ports import Page, every
from cora_bluesky.application.schemas import parameter_check
from cora_bluesky.domain import errors as e
from cora_bluesky.domain import run as r
from cora_bluesky.domain.calibration import active_revisions
from cora_bluesky.domain.gates import GateContext, Permit, check_enclosures, check_scope, enclosure_scope
from cora_bluesky.domain.run import RunState


class RunCommands(RecordCore):
    def start_run(
        self,
        *,
        name: str,
        plan_id: str,
        subject_id: str | None = None,
        override_parameters: Mapping[str, Any] | None = None,
        asset_ids: Iterable[str] = (),
        pinned_calibrations: Iterable[str] | None = None,
        triggered_by: str | None = None,
        external_refs: Iterable[Any] = (),
        raid: str | None = None,
        campaign_id: str | None = None,
        run_id: str | None = None,
    ) -> RunState:
        """Start a run if both gates open; nothing is written when any guard refuses.

        Parameters
        ----------
        name : str
            What the run is, 1-200 characters.
        plan_id : str
            The CORA Plan it executes; its defaults merge with ``override_parameters``.
        subject_id : str, optional
            The sample, which must be Mounted or Measured. Dark and flat fields have none.
        asset_ids : iterable of str
            Assets bound in addition to the Plan's own.
        pinned_calibrations : iterable of str, optional
            Calibration revision ids; by default the active revisions of the run's assets.
        run_id : str, optional
            A caller-chosen id (for example one already named in a clearance binding).

        Returns
        -------
        RunState
            The started run, with its resolved ``effective_parameters``.
        """
        command = r.StartRun(
            run_id=run_id or new_id(),
            name=name,
            plan_id=plan_id,
            subject_id=subject_id,
            raid=raid,
            override_parameters={} if override_parameters is None else override_parameters,
            triggered_by=triggered_by,
            external_refs=tuple(external_refs),
            campaign_id=campaign_id,
            pinned_calibrations=None if pinned_calibrations is None else tuple(pinned_calibrations),
            asset_ids=tuple(asset_ids),
        )
        return self._write(
            RUN, command.run_id, lambda state: r.decide(command, state, self._start_context(command)), command
        )

    def _start_context(self, command: r.StartRun) -> r.StartRunContext:
        plan = self._view(PLAN, command.plan_id)
        method = self._view(METHOD, plan.method_id) if plan is not None else None
        extra = command.asset_ids if isinstance(command.asset_ids, tuple) else ()
        bound = tuple(dict.fromkeys((plan.asset_ids if plan else ()) + tuple(a for a in extra if isinstance(a, str))))
        gates = self._gate_context(command.run_id, command.subject_id, bound)
        revisions = self._find(CALIBRATION, refs=[("asset", a) for a in bound])
        pins = command.pinned_calibrations
        return r.StartRunContext(
            now=gates.now,
            plan=plan,
            method=method,
            subject=self._view(SUBJECT, command.subject_id),
            assets=gates.assets,
            parameter_check=parameter_check(method.parameters_schema) if method else None,
            clearances=tuple(gates.clearances),
            enclosures=gates.enclosures,
            permits=gates.permits,
            active_calibrations=tuple(sorted(rev.id for rev in active_revisions(revisions).values())),
            known_calibrations=self._views(CALIBRATION, [p for p in pins or () if isinstance(p, str)]),
        )

    def _gate_context(self, run_id: str, subject_id: Any, asset_ids: tuple[str, ...]) -> GateContext:
        """Clearances referencing the scope, the equipment chain, its hutches and their permits."""
        assets = self._asset_chain(asset_ids)
        enclosures, permits = self._hutches(enclosure_scope(asset_ids, assets))
        refs = [("run", run_id)] + [("asset", a) for a in asset_ids]
        if isinstance(subject_id, str):
            refs.append(("subject", subject_id))
        return GateContext(
            now=self.now(),
            clearances=self._find(CLEARANCE, refs=refs),
            assets=assets,
            enclosures=enclosures,
            permits=permits,
        )

    def check_run_gates(self, run_id: str) -> RunState:
        """Re-run both start gates for an open run, writing nothing.

        A gated resume calls this before letting beam back onto the sample: the run must still
        be covered by a clearance in force, and every hutch in its scope must be permitted.

        Raises
        ------
        RunRequiresActiveClearanceError, RunClearanceCoverageMismatchError,
        RunRequiresPermittedEnclosureError, RunEnclosureCoverageMismatchError
        """
        run = self.get_run(run_id)
        check_scope(run.id, run.subject_id, run.asset_ids, self._gate_context(run.id, run.subject_id, run.asset_ids))
        return run

    def check_equipment_permits(self, asset_ids: Iterable[str]) -> None:
        """Refuse unless every hutch the assets sit in (walking up their chain) is permitted now.

        Raises
        ------
        RunRequiresPermittedEnclosureError, RunEnclosureCoverageMismatchError
        """
        assets = self._asset_chain(asset_ids)
        scope = enclosure_scope(tuple(asset_ids), assets)
        check_enclosures(scope, *self._hutches(scope))

    def _hutches(self, scope: Iterable[str]) -> tuple[Mapping[str, Any], Mapping[str, Permit]]:
        """The hutches of ``scope`` and their permits, read now."""
        enclosures = self._views(ENCLOSURE, scope)
        return enclosures, self._read_permits(enclosures)

    def _read_permits(self, enclosures: Mapping[str, Any]) -> Mapping[str, Permit]:
        if not enclosures:
            return {}
        if self.permits is None:
            return {
                hutch: Permit(hutch, False, "no permit source is configured for this record")
                for hutch in enclosures
            }
        return self.permits.permits(list(enclosures.values()))

    def hold_run(self, run_id: str) -> RunState:
        """Hold a Running run (no reason: a hold is routine)."""
        return self._transition(r.HoldRun(run_id))

    def resume_run(self, run_id: str) -> RunState:
        """Resume a Held run."""
        return self._transition(r.ResumeRun(run_id))

    def complete_run(self, run_id: str) -> RunState:
        """Complete a Running run; a held run must be resumed first."""
        return self._transition(r.CompleteRun(run_id))

    def abort_run(self, run_id: str, *, reason: str) -> RunState:
        """Abort a Running or Held run: something went wrong and the data needs review."""
        return self._transition(r.AbortRun(run_id, reason))

    def stop_run(self, run_id: str, *, reason: str) -> RunState:
        """Stop a Running or Held run early on purpose; data so far is valid."""
        return self._transition(r.StopRun(run_id, reason))

    def truncate_run(self, run_id: str, *, reason: str, interrupted_at: datetime | None = None) -> RunState:
        """Close a run that died unwatched, with the best guess of when it really stopped."""
        return self._transition(r.TruncateRun(run_id, reason, interrupted_at))

    def adjust_run(
        self,
        run_id: str,
        *,
        parameter_patch: Mapping[str, Any],
        reason: str,
        decided_by_decision_id: str | None = None,
    ) -> RunState:
        """Steer a run mid-flight with an RFC 7396 merge patch, checked against the Method."""
        command = r.AdjustRun(run_id, parameter_patch, reason, decided_by_decision_id)

        def decide(state: RunState | None) -> tuple:
            method = self._view(METHOD, state.method_id) if state is not None else None
            check = parameter_check(method.parameters_schema) if method is not None else None
            return r.decide(command, state, r.AdjustContext(self.now(), check))

        return self._write(RUN, run_id, decide, command)

    def link_run_dataset(self, run_id: str, *, start_uid: str, uri: str, scan_id: int | None = None) -> RunState:
        """Record that a Bluesky run (its start uid, its ``scan_id`` and a URI that resolves it in
        the beamline's catalog) holds this Run's data."""
        return self._transition(r.LinkRunDataset(run_id, start_uid, uri, scan_id))

    def seal_run_dataset(
        self, run_id: str, *, start_uid: str, digest: str, canonical_form: str, documents: int
    ) -> RunState:
        """Record the digest of a linked Bluesky run's documents (see :mod:`cora_bluesky.domain.digest`).

        The recorder seals each run as it ends; ``cora runs verify`` compares the catalog with it.
        """
        return self._transition(r.SealRunDataset(run_id, start_uid, digest, canonical_form, documents))

    def summarize_run(self, run_id: str, summary: Mapping[str, Any]) -> RunState:
        """Record what an open run amounted to (events per stream, time held, ...) before it ends."""
        return self._transition(r.SummarizeRun(run_id, summary))

    def join_run_assets(self, run_id: str, *, asset_ids: Iterable[str], devices: Iterable[str] = ()) -> RunState:
        """Bind equipment a running plan reached mid-flight; hutches it adds are checked now.

        Raises
        ------
        RunRequiresPermittedEnclosureError
            A hutch the equipment adds to the run's scope is not permitted; nothing is written.
        """
        command = r.JoinRunAssets(run_id, tuple(asset_ids), tuple(devices))

        def decide(state: RunState | None) -> tuple:
            if state is None:
                return r.decide(command, state, r.At(self.now()))
            joining = tuple(a for a in command.asset_ids if isinstance(a, str))
            assets = self._asset_chain(state.asset_ids + joining)
            known = set(enclosure_scope(state.asset_ids, assets))
            added = [hutch for hutch in enclosure_scope(joining, assets) if hutch not in known]
            ctx = r.JoinContext(self.now(), assets, *self._hutches(added))
            return r.decide(command, state, ctx)

        return self._write(RUN, run_id, decide, command)

    def _transition(self, command: Any) -> RunState:
        return self._write(
            RUN, command.run_id, lambda state: r.decide(command, state, r.At(self.now())), command
        )

    def append_run_readings(self, run_id: str, readings: Iterable[r.Reading | Mapping[str, Any]]) -> int:
        """Append a batch of readings; returns how many were new (known ``event_id`` are skipped).

        The first batch opens the run's reading logbook. A bad reading refuses the whole batch.
        """
        batch = tuple(_reading(item) for item in readings)
        command = r.AppendRunReading(run_id, batch)

        def decide(state: RunState | None) -> tuple:
            events, rows = r.decide_readings(command, state, r.ReadingsContext(self.now(), new_id()))
            return events, rows, ()

        return self._execute(RUN, run_id, decide, command)[1]

    def append_run_reading(
        self,
        run_id: str,
        *,
        channel_name: str,
        value: float,
        sampling_procedure: str,
        sampled_at: datetime,
        units: str | None = None,
        event_id: str | None = None,
    ) -> int:
        """Append one reading; see :meth:`append_run_readings`."""
        reading = r.Reading(event_id or new_id(), channel_name, value, sampling_procedure, sampled_at, units)
        return self.append_run_readings(run_id, [reading])

    def get_run(self, run_id: str) -> RunState:
        """The run's current state."""
        return self._require(RUN, run_id, e.RunNotFoundError)

    def list_runs(
        self,
        *,
        status: str | None = None,
        plan_id: str | None = None,
        subject_id: str | None = None,
        created_from: datetime | None = None,
        created_before: datetime | None = None,
        start_uid: str | None = None,
        scan_id: int | None = None,
        external_ref: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Runs, newest first, filtered; pass ``page.next`` as ``cursor`` for the next page.

        ``start_uid`` and ``scan_id`` find the runs holding a Bluesky run; ``external_ref``
        (``scheme:id``, for example ``proposal:2024-1234``) the runs carrying that reference.
        """
        return self._page(
            RUN,
            limit=limit,
            cursor=cursor,
            status=status,
            plan_id=plan_id,
            subject_id=subject_id,
            created_from=created_from,
            created_before=created_before,
            refs=_run_refs(start_uid, scan_id, external_ref),
        )

    def find_runs(
        self, *, start_uid: str | None = None, scan_id: int | None = None, external_ref: str | None = None
    ) -> list[RunState]:
        """Every run holding this Bluesky run (by start uid or ``scan_id``) or carrying this
        external reference (``scheme:id``), oldest first; the criteria given must all match.

        Raises
        ------
        InvalidListQueryError
            No criterion was given, or one is malformed.
        """
        if start_uid is None and scan_id is None and external_ref is None:
            raise e.InvalidListQueryError("name a start_uid, a scan_id or an external_ref to find runs by")
        return every(self.list_runs, start_uid=start_uid, scan_id=scan_id, external_ref=external_ref)[::-1]

    def stale_runs(self, *, idle_for: timedelta) -> list[tuple[RunState, datetime]]:
        """Open runs (Running or Held) with no recorded activity for at least ``idle_for``.

        Each comes with the last moment the record saw of it (its last lifecycle event or its
        newest reading), the natural guess for ``truncate_run``'s ``interrupted_at``. Nothing
        is closed here: a person decides.
        """
        now = self.now()
        stale = []
        for status in ("Running", "Held"):
            for run in every(self.list_runs, status=status):
                latest = self.store.latest_reading_at(run.id)
                last_seen = max(run.updated_at, parse_timestamp(latest)) if latest else run.updated_at
                if now - last_seen >= idle_for:
                    stale.append((run, last_seen))
        return sorted(stale, key=lambda pair: pair[1])

    def list_run_readings(self, run_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """The run's readings in ``sampled_at`` order, with their three timestamps."""
        self.get_run(run_id)
        return self._timed(self.store.readings(run_id, limit=limit))


def _run_refs(start_uid: Any, scan_id: Any, external_ref: Any) -> tuple[tuple[str, str], ...]:
    """The projection references the run filters stand for (see ``aggregates.RUN``)."""
    refs = []
    if start_uid is not None:
        if not isinstance(start_uid, str) or not start_uid:
            raise e.InvalidListQueryError("start_uid must be text", field="start_uid")
        refs.append(("bluesky_run", start_uid))
    if scan_id is not None:
        if isinstance(scan_id, bool) or not isinstance(scan_id, int) or scan_id < 0:
            raise e.InvalidListQueryError("scan_id must be a whole number from 0", field="scan_id")
        refs.append(("scan_id", str(scan_id)))
    if external_ref is not None:
        scheme, colon, ident = external_ref.partition(":") if isinstance(external_ref, str) else ("", "", "")
        if not (scheme and colon and ident):
            raise e.InvalidListQueryError("external_ref must be scheme:id", field="external_ref")
        refs.append(("external_ref", f"{scheme}:{ident}"))
    return tuple(refs)


def _reading(item: r.Reading | Mapping[str, Any]) -> r.Reading:
    if isinstance(item, r.Reading):
        return item
    if not isinstance(item, Mapping):
        raise e.InvalidReadingValueError("a reading is a mapping of its fields")
    fields = dict(item)
    fields.setdefault("event_id", new_id())
    fields.setdefault("units", None)
    try:
        return r.Reading(**fields)
    except TypeError as error:
        raise e.InvalidReadingValueError(f"malformed reading: {error}") from None
