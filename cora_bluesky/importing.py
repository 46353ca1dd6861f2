"""Bring a beamline's history in: every Bluesky run of a catalog becomes an imported Run.

Each run is one atomic append under an id derived from its start uid, so an import that is
interrupted (a kill, an outage) leaves whole runs only, and running it again skips what it
already brought in and picks up where it stopped.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, TextIO

from cora_bluesky.catalogs import as_catalog
from cora_bluesky.domain import errors as e

#: Refusals that stop the whole import: who acts may not, or the store is away. Every other
#: refusal is the one run's, reported with it.
STOPS_THE_IMPORT = (e.ForbiddenError, e.UnauthorizedError, e.StoreError, e.ConcurrencyError)
#: ... and, while listing the catalog's runs, a catalog that went away.
STOPS_THE_LISTING = (*STOPS_THE_IMPORT, e.RunDataUnreachableError)
#: Runs in a row whose documents could not be read before the catalog is taken to be away (one
#: broken run alone is reported and passed over).
UNREACHABLE_IN_A_ROW = 3


@dataclass
class ImportReport:
    """What an import did: each Bluesky run imported, skipped or failed, with why."""

    #: (start uid, run id) of each run imported now
    imported: list[tuple[str, str]] = field(default_factory=list)
    #: (start uid, why) of each run the record held already
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: (start uid, why) of each run that could not be imported; the next import tries it again
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: why the import stopped before the catalog's last run (the store or the catalog went
    #: away, or who acts may not import); ``None`` when it read the catalog to the end
    stopped: str | None = None

    @property
    def seen(self) -> int:
        return len(self.imported) + len(self.skipped) + len(self.failed)

    def lines(self) -> list[str]:
        """The final report, as ``cora import`` prints it."""
        said = [f"imported {len(self.imported)}, skipped {len(self.skipped)}, failed {len(self.failed)}"]
        said += [f"  failed {uid}: {why}" for uid, why in self.failed]
        if self.stopped is not None:
            said.append(f"stopped before the end of the catalog: {self.stopped}; import again to go on")
        return said


def import_catalog(
    record: Any,
    catalog: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import every run of ``catalog`` that started in ``[since, until)``.

    Parameters
    ----------
    record : cora_bluesky.Record
        Where the runs are recorded; the acting principal needs the administer duty.
    catalog
        A Tiled node of Bluesky runs, a databroker v2 catalog, or a Tiled address.
    since, until : datetime, optional
        Zoned bounds on the runs' start times.
    progress : callable, optional
        Called with the report so far after each run.

    Returns
    -------
    ImportReport
        With ``stopped`` set when the import stopped early (the store or the catalog went away,
        or the acting principal may not import): what it imported stays, and a second import
        goes on from there.
    """
    source = as_catalog(catalog)
    if not hasattr(source, "runs"):
        raise e.RunDataUnreachableError(f"{type(source).__name__} cannot list its runs: give a Tiled or databroker catalog")
    report = ImportReport()
    window = {"since": None if since is None else since.timestamp(), "until": None if until is None else until.timestamp()}
    unreachable = 0
    try:
        for uid, entry in source.runs(**window):
            refusal = _import_one(record, source, uid, entry, report)
            unreachable = unreachable + 1 if isinstance(refusal, e.RunDataUnreachableError) else 0
            if progress is not None:
                progress(report)
            if unreachable == UNREACHABLE_IN_A_ROW:
                report.stopped = f"RunDataUnreachable: {unreachable} runs in a row could not be read from the catalog"
                break
    except STOPS_THE_LISTING as stop:
        report.stopped = f"{stop.name}: {stop.message}"
    return report


def _import_one(record: Any, source: Any, uid: str, entry: Any, report: ImportReport) -> e.CoraError | None:
    """Import one run into ``report``; returns the refusal that failed it, if one did."""
    held = record.find_runs(start_uid=uid)
    if held:  # before its documents are read: a resumed import passes these quickly
        report.skipped.append((uid, f"recorded already, as run {held[0].id}"))
        return None
    try:
        run = record.import_run(source.documents(entry), source=source.source, uri=source.link(uid))
        report.imported.append((uid, run.id))
    except STOPS_THE_IMPORT:
        raise
    except e.RunAlreadyExistsError as already:
        report.skipped.append((uid, already.message))
    except e.CoraError as refusal:
        report.failed.append((uid, f"{refusal.name}: {refusal.message}"))
        return refusal
    return None


def progress_bar(stream: TextIO | None = None) -> Callable[[ImportReport], None]:
    """A progress callback drawing a bar of runs seen on ``stream`` (standard error by default);
    the total is not known in advance."""
    from tqdm import tqdm

    bar = tqdm(unit=" runs", file=stream or sys.stderr, dynamic_ncols=True, mininterval=0.5)

    def show(report: ImportReport) -> None:
        bar.update(report.seen - bar.n)
        bar.set_postfix(imported=len(report.imported), skipped=len(report.skipped), failed=len(report.failed),
                        refresh=False)

    show.close = bar.close  # type: ignore[attr-defined]
    return show
