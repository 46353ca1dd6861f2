"""Historic runs: a finished Bluesky run read from a catalog becomes a Run in one append."""

from __future__ import annotations

import uuid
from typing import Any, Iterable, Mapping

from cora_bluesky.application.aggregates import PLAN, RUN
from cora_bluesky.application.core import RecordCore, new_id
from cora_bluesky.domain import errors as e
from cora_bluesky.domain import run as r
from cora_bluesky.domain.documents import HistoricRun, at, named_devices, read_run
from cora_bluesky.domain.rules import EXTERNAL_REF_ID, IMPORT_BLUESKY_PLAN, RUN_NAME
from cora_bluesky.domain.recipe import PlanState
from cora_bluesky.domain.run import RunState

#: Imported runs take ids derived from their start uid in this namespace, so a second import of
#: the same Bluesky run names the same Run.
IMPORTED_RUNS = uuid.UUID("6f0c6c2e-64a9-4c56-9a0f-2b1d7f3e9a41")
#: External-reference schemes for what a historic run names that the record does not hold.
SAMPLE_SCHEME, DEVICE_SCHEME = "bluesky_sample", "bluesky_device"


def imported_run_id(start_uid: str) -> str:
    """The id of the Run an import makes of the Bluesky run with this start uid."""
    return str(uuid.uuid5(IMPORTED_RUNS, start_uid))


def _sample(start: Mapping[str, Any]) -> str | None:
    sample = start.get("sample")
    if isinstance(sample, Mapping):
        sample = sample.get("name")
    return sample.strip() or None if isinstance(sample, str) else None


class RunImports(RecordCore):
    def import_run(self, documents: Iterable[tuple[str, Mapping[str, Any]]], *, source: str, uri: str) -> RunState:
        """Record a finished Bluesky run, read from a catalog, as an imported Run.

        One append writes it whole (``RunImported``, its dataset link and digest, its baseline
        and monitor readings, its ending) or nothing. It is never gated: ``RunImported`` says
        so. Plans, samples and devices the record holds are matched (a CORA Plan by the
        start document's ``cora_plan_id`` or Bluesky plan name, a subject by name, assets by
        device name); the rest are kept as references (``bluesky_plan``, and external refs
        ``bluesky_sample:NAME`` and ``bluesky_device:NAME``).

        Parameters
        ----------
        documents : iterable of (name, doc)
            The run's documents, in the order the catalog returns them.
        source : str
            The catalog they were read from.
        uri : str
            The link that resolves the run in that catalog.

        Returns
        -------
        RunState
            The imported run, under :func:`imported_run_id` of its start uid.

        Raises
        ------
        RunAlreadyExistsError
            The Bluesky run is recorded already (imported before, or recorded as it ran).
        InvalidRunImportError
            The documents hold no usable start document, or the run ends out of order.
        PlanNameAmbiguousError
            Several CORA Plans answer to its Bluesky plan name.
        """
        try:
            historic = read_run(documents)
        except (KeyError, TypeError, ValueError) as failure:
            raise e.InvalidRunImportError(f"the run's documents cannot be read: {failure}") from None
        run_id = imported_run_id(historic.uid)
        held = self.find_runs(start_uid=historic.uid)
        if held:
            raise e.RunAlreadyExistsError(
                f"Bluesky run {historic.uid} is recorded already, as run {held[0].id}",
                run_id=held[0].id, start_uid=historic.uid,
            )
        command, plan = self._import_command(run_id, historic, source, uri)

        def decide(state: RunState | None) -> tuple:
            events, rows = r.decide_import(command, state, r.ImportContext(self.now(), plan, new_id()))
            return events, rows, ()

        return self._execute(RUN, run_id, decide, command)[0]

    def _import_command(
        self, run_id: str, historic: HistoricRun, source: str, uri: str
    ) -> tuple[r.ImportRun, PlanState | None]:
        """The command, and the plan it matched (``None``: kept by its Bluesky name)."""
        start = historic.start
        plan_name = start.get("plan_name") if isinstance(start.get("plan_name"), str) else None
        plan = self._view(PLAN, start["cora_plan_id"]) if isinstance(start.get("cora_plan_id"), str) else None
        if plan is None and plan_name:
            plan = self.resolve_plan(plan_name)
        refs: list[tuple[str, str]] = []
        subject_id = None
        sample = _sample(start)
        if sample is not None:
            subjects = self.find_named("subject", sample)
            if len(subjects) == 1:
                subject_id = subjects[0].id
            else:
                refs.append((SAMPLE_SCHEME, sample[: EXTERNAL_REF_ID.high]))
        devices = list(dict.fromkeys(named_devices(start)))
        assets = self.assets_for_devices(devices) if devices else []
        answered = {name for asset in assets for name in asset.device_names}
        refs += [(DEVICE_SCHEME, name[: EXTERNAL_REF_ID.high]) for name in devices if name not in answered]
        scan_id = start.get("scan_id")
        if isinstance(scan_id, bool) or not isinstance(scan_id, int) or scan_id < 0:
            scan_id = None
        label = plan_name or "Bluesky run"
        name = f"{label} scan {scan_id}" if scan_id is not None else f"{label} {historic.uid[:8]}"
        command = r.ImportRun(
            run_id=run_id,
            name=name[: RUN_NAME.high],
            source=source,
            start_uid=historic.uid,
            uri=uri,
            started_at=at(historic.started),
            ending=historic.ending(),
            plan_id=None if plan is None else plan.id,
            bluesky_plan=plan_name[: IMPORT_BLUESKY_PLAN.high] if plan_name else None,
            scan_id=scan_id,
            subject_id=subject_id,
            asset_ids=tuple(asset.id for asset in assets),
            external_refs=tuple(refs),
            readings=tuple(r.Reading(**reading) for reading in historic.readings),
            digest=historic.digest.hexdigest,
            documents=historic.digest.documents,
        )
        return command, plan
