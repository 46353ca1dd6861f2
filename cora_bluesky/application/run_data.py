"""From a Run to its data and back: open a linked Bluesky run, verify it against its digest."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cora_bluesky.application.aggregates import RUN
from cora_bluesky.application.core import RecordCore
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.digest import CANONICAL_FORM, digest_documents
from cora_bluesky.domain.run import DatasetRef


class Verdict(StrEnum):
    #: the catalog holds the documents the RunEngine emitted
    VERIFIED = "verified"
    #: the catalog's documents differ from those the RunEngine emitted
    ALTERED = "altered"
    #: no digest was recorded for this run (see ``DatasetRef.digest``): nothing to compare
    UNSEALED = "unsealed"
    #: the catalog could not be read, or no longer has the run
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class DataVerification:
    """What ``verify_run_data`` found for one linked Bluesky run."""

    run_id: str
    start_uid: str
    uri: str
    verdict: Verdict
    recorded: str | None
    found: str | None
    #: documents the catalog returned that the digest covers
    documents: int | None = None
    why: str | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.VERIFIED


class RunDataQueries(RecordCore):
    def _dataset(self, run_id: str, start_uid: str | None) -> DatasetRef:
        run = self._require(RUN, run_id, e.RunNotFoundError)
        for ref in run.datasets:
            if start_uid is None or ref.start_uid == start_uid:
                return ref
        named = f" {start_uid}" if start_uid is not None else ""
        raise e.RunDataNotLinkedError(
            f"run {run.name!r} holds no link to a Bluesky run{named}", run_id=run.id, start_uid=start_uid
        )

    def _catalog(self):
        if self.catalog is None:
            raise e.RunDataUnreachableError(
                "no catalog is configured: install(RE, record, catalog=...) or connect(..., catalog=...)"
            )
        return self.catalog

    def open_data(self, run_id: str, start_uid: str | None = None) -> Any:
        """The catalog's entry for the Bluesky run holding this Run's data (the first, by default).

        Parameters
        ----------
        run_id : str
        start_uid : str, optional
            Which linked Bluesky run, when the Run holds several.

        Returns
        -------
        The catalog's run (a ``BlueskyRun`` of Tiled or databroker).

        Raises
        ------
        RunNotFoundError, RunDataNotLinkedError, RunDataUnreachableError
        """
        ref = self._dataset(run_id, start_uid)
        return self._catalog().open(ref.start_uid, ref.uri)

    def verify_run_data(self, run_id: str) -> list[DataVerification]:
        """Re-read each linked Bluesky run from the catalog and compare it with its recorded digest.

        Returns
        -------
        list of DataVerification
            One per linked Bluesky run; ``ok`` only when the catalog holds the same documents.

        Raises
        ------
        RunNotFoundError, RunDataNotLinkedError, RunDataUnreachableError
        """
        run = self._require(RUN, run_id, e.RunNotFoundError)
        if not run.datasets:
            raise e.RunDataNotLinkedError(f"run {run.name!r} holds no link to a Bluesky run", run_id=run.id)
        catalog = self._catalog()
        return [self._verify(run.id, ref, catalog) for ref in run.datasets]

    @staticmethod
    def _verify(run_id: str, ref: DatasetRef, catalog) -> DataVerification:
        def said(verdict: Verdict, found: str | None = None, documents: int | None = None, why: str | None = None):
            return DataVerification(run_id, ref.start_uid, ref.uri, verdict, ref.digest, found, documents, why)

        if ref.digest is None:
            return said(Verdict.UNSEALED, why="no digest was recorded when the run ended")
        if ref.canonical_form != CANONICAL_FORM:
            return said(Verdict.UNSEALED, why=f"recorded in form {ref.canonical_form!r}, this record reads {CANONICAL_FORM!r}")
        try:
            digest = digest_documents(catalog.documents(catalog.open(ref.start_uid, ref.uri)))
        except e.RunDataUnreachableError as unreachable:
            return said(Verdict.UNREACHABLE, why=unreachable.message)
        verdict = Verdict.VERIFIED if digest.hexdigest == ref.digest else Verdict.ALTERED
        why = None
        if verdict is Verdict.ALTERED and digest.documents != ref.documents:
            why = f"the catalog holds {digest.documents} document(s), the RunEngine emitted {ref.documents}"
        return said(verdict, digest.hexdigest, digest.documents, why)
