"""Clearance use cases: register a facility safety form and walk it through review."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from cora_bluesky.application.aggregates import CLEARANCE
from cora_bluesky.application.core import RecordCore, new_id
from cora_bluesky.application.ports import Page
from cora_bluesky.domain import clearance as c
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.clearance import ClearanceState
from cora_bluesky.domain.form_types import FormType
from cora_bluesky.domain.values import At


class SafetyCommands(RecordCore):
    def list_clearance_form_types(self) -> list[FormType]:
        """The safety form types this record knows (the ten baseline ones at least)."""
        return self.store.form_types()

    def register_clearance(
        self,
        *,
        form_type: str,
        title: str,
        run_ids: Iterable[str] = (),
        subject_ids: Iterable[str] = (),
        asset_ids: Iterable[str] = (),
        hazards: Iterable[str] = (),
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        form_number: str | None = None,
        clearance_id: str | None = None,
    ) -> ClearanceState:
        """Register a filled-in safety form (Defined) bound to runs, subjects or assets.

        Parameters
        ----------
        form_type : str
            A form type code, see :meth:`list_clearance_form_types` (``"aps-esaf"``, ...).
        valid_from, valid_until : datetime, optional
            The validity window; an Active clearance outside it is not in force.
        form_number : str, optional
            The facility's number of the form (an ESAF's number): a run whose metadata names
            another form is refused while this clearance is what covers it.
        """
        command = c.RegisterClearance(
            clearance_id or new_id(),
            form_type,
            title,
            tuple(run_ids),
            tuple(subject_ids),
            tuple(asset_ids),
            tuple(hazards),
            valid_from,
            valid_until,
            form_number,
        )

        def decide(state: ClearanceState | None) -> tuple:
            codes = frozenset(form.code for form in self.store.form_types())
            return c.decide(command, state, c.ClearanceContext(self.now(), codes))

        return self._write(CLEARANCE, command.clearance_id, decide, command)

    def bind_clearance(
        self,
        clearance_id: str,
        *,
        run_ids: Iterable[str] = (),
        subject_ids: Iterable[str] = (),
        asset_ids: Iterable[str] = (),
    ) -> ClearanceState:
        """Add scope to a clearance that has not been submitted yet."""
        return self._review(c.BindClearance(clearance_id, tuple(run_ids), tuple(subject_ids), tuple(asset_ids)))

    def submit_clearance(self, clearance_id: str) -> ClearanceState:
        """Defined -> Submitted."""
        return self._review(c.SubmitClearance(clearance_id))

    def start_clearance_review(self, clearance_id: str) -> ClearanceState:
        """Submitted -> UnderReview."""
        return self._review(c.StartClearanceReview(clearance_id))

    def approve_clearance(self, clearance_id: str) -> ClearanceState:
        """UnderReview -> Approved (signed off, not yet in force)."""
        return self._review(c.ApproveClearance(clearance_id))

    def reject_clearance(self, clearance_id: str, *, reason: str) -> ClearanceState:
        """Submitted or UnderReview -> Rejected."""
        return self._review(c.RejectClearance(clearance_id, reason))

    def activate_clearance(self, clearance_id: str) -> ClearanceState:
        """Approved -> Active: the clearance is in force inside its validity window."""
        return self._review(c.ActivateClearance(clearance_id))

    def expire_clearance(self, clearance_id: str) -> ClearanceState:
        """Approved or Active -> Expired."""
        return self._review(c.ExpireClearance(clearance_id))

    def supersede_clearance(
        self, clearance_id: str, *, reason: str, superseded_by: str | None = None
    ) -> ClearanceState:
        """Replace a clearance with an amended one (any non-terminal state -> Superseded)."""
        return self._review(c.SupersedeClearance(clearance_id, reason, superseded_by))

    def _review(self, command: Any) -> ClearanceState:
        return self._write(
            CLEARANCE, command.clearance_id, lambda state: c.decide(command, state, At(self.now())), command
        )

    def get_clearance(self, clearance_id: str) -> ClearanceState:
        """The clearance's current state."""
        return self._require(CLEARANCE, clearance_id, e.ClearanceNotFoundError)

    def list_clearances(self, *, status: str | None = None, limit: int = 50, cursor: str | None = None) -> Page:
        """Clearances, newest first."""
        return self._page(CLEARANCE, limit=limit, cursor=cursor, status=status)

    def clearances_covering(
        self, *, run_id: str | None = None, subject_id: str | None = None, asset_ids: Iterable[str] = ()
    ) -> list[ClearanceState]:
        """Every clearance bound to the run, the subject or any of the assets, in any state."""
        refs = [("asset", a) for a in asset_ids]
        refs += [("run", run_id)] if run_id else []
        refs += [("subject", subject_id)] if subject_id else []
        return self._find(CLEARANCE, refs=refs)
