"""Recipe and subject use cases: methods, plans, and samples on and off the stage."""

from __future__ import annotations

import fnmatch
from typing import Any, Iterable, Mapping

from cora_bluesky.application.aggregates import ASSET, METHOD, PLAN, SUBJECT
from cora_bluesky.application.core import RecordCore, new_id
from cora_bluesky.application.ports import Page, every
from cora_bluesky.application.schemas import schema_problems
from cora_bluesky.domain import errors as e
from cora_bluesky.domain import recipe as rc
from cora_bluesky.domain import subject as sj
from cora_bluesky.domain.recipe import MethodState, PlanState
from cora_bluesky.domain.subject import SubjectState
from cora_bluesky.domain.values import At


class RecipeCommands(RecordCore):
    def register_method(
        self,
        *,
        name: str,
        parameters_schema: Mapping[str, Any] | None = None,
        needed_families: Iterable[str] = (),
        method_id: str | None = None,
    ) -> MethodState:
        """Register a technique: the JSON Schema of its parameters and the asset families it needs."""
        command = rc.RegisterMethod(method_id or new_id(), name, parameters_schema, tuple(needed_families))

        def decide(state: MethodState | None) -> tuple:
            taken = self._names_taken(METHOD, command.name)
            return rc.decide_method(command, state, rc.MethodContext(self.now(), taken, schema_problems))

        return self._write(METHOD, command.method_id, decide, command)

    def register_plan(
        self,
        *,
        name: str,
        method_id: str,
        default_parameters: Mapping[str, Any] | None = None,
        asset_ids: Iterable[str] = (),
        bluesky_names: Iterable[str] = (),
        plan_id: str | None = None,
    ) -> PlanState:
        """Register how this beamline runs a Method.

        Parameters
        ----------
        name : str
            The Bluesky plan's name (the function a profile defines, ``tomo_scan``). A
            deprecated plan's name is free: the new plan replaces it.
        bluesky_names : iterable of str
            Further Bluesky plan names or ``fnmatch`` patterns it answers to, so one plan can
            stand for many built-ins (``["scan", "rel_scan", "grid_scan", "*_scan"]``).
        """
        command = rc.RegisterPlan(
            plan_id or new_id(),
            name,
            method_id,
            {} if default_parameters is None else default_parameters,
            tuple(asset_ids),
            tuple(bluesky_names) if not isinstance(bluesky_names, str) else bluesky_names,
        )

        def decide(state: PlanState | None) -> tuple:
            ctx = rc.PlanContext(
                self.now(),
                self._active_plan_names(command.name),
                self._view(METHOD, command.method_id),
                self._known_assets(command.asset_ids),
            )
            return rc.decide_plan(command, state, ctx)

        return self._write(PLAN, command.plan_id, decide, command)

    def revise_plan(
        self,
        plan_id: str,
        *,
        default_parameters: Mapping[str, Any],
        asset_ids: Iterable[str] = (),
        bluesky_names: Iterable[str] = (),
    ) -> PlanState:
        """Give an Active plan other defaults, assets or Bluesky names (unchanged: nothing recorded).

        Runs already started keep what they started with.
        """
        command = rc.RevisePlan(
            plan_id,
            default_parameters,
            tuple(asset_ids),
            tuple(bluesky_names) if not isinstance(bluesky_names, str) else bluesky_names,
        )
        ctx = lambda: rc.RevisePlanContext(self.now(), self._known_assets(command.asset_ids))  # noqa: E731
        return self._write(PLAN, plan_id, lambda state: rc.decide_plan(command, state, ctx()), "RevisePlan")

    def revise_method(
        self, method_id: str, *, parameters_schema: Mapping[str, Any] | None, needed_families: Iterable[str] = ()
    ) -> MethodState:
        """Give a method another parameter schema or needed families (unchanged: nothing recorded).

        Runs already started keep the parameters they were started with.
        """
        command = rc.ReviseMethod(method_id, parameters_schema, tuple(needed_families))
        ctx = lambda: rc.ReviseMethodContext(self.now(), schema_problems)  # noqa: E731
        return self._write(
            METHOD, method_id, lambda state: rc.decide_method_revision(command, state, ctx()), "ReviseMethod"
        )

    def _known_assets(self, asset_ids: Any) -> frozenset[str]:
        ids = [a for a in asset_ids if isinstance(a, str)] if isinstance(asset_ids, tuple) else []
        return frozenset(self._views(ASSET, ids))

    def _active_plan_names(self, name: Any) -> frozenset[str]:
        if not isinstance(name, str):
            return frozenset()
        rows = self._find(PLAN, name=name.strip())
        return frozenset(plan.name for plan in rows if plan.status is rc.PlanStatus.ACTIVE)

    def deprecate_plan(self, plan_id: str) -> PlanState:
        """Retire a plan: it starts no more runs."""
        command = rc.DeprecatePlan(plan_id)
        return self._write(PLAN, plan_id, lambda state: rc.decide_plan(command, state, At(self.now())), command)

    def _names_taken(self, aggregate, name: Any) -> frozenset[str]:
        if not isinstance(name, str):
            return frozenset()
        return frozenset(row.name for row in self.store.find(aggregate.kind, name=name.strip()))

    def get_method(self, method_id: str) -> MethodState:
        return self._require(METHOD, method_id, e.MethodNotFoundError)

    def find_method(self, name: str) -> MethodState | None:
        """The method registered under this name, if any."""
        found = self._find(METHOD, name=name)
        return found[0] if found else None

    def list_methods(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        return self._page(METHOD, limit=limit, cursor=cursor)

    def get_plan(self, plan_id: str) -> PlanState:
        return self._require(PLAN, plan_id, e.PlanNotFoundError)

    def find_plan(self, name: str) -> PlanState:
        """The plan registered under this name: the Active one, else the newest deprecated one."""
        found = self._named_plans(name)
        if not found:
            raise e.PlanNotFoundError(
                f"no CORA plan is registered under the name {name!r}; register one with register_plan",
                name=name,
            )
        return found[0]

    def _named_plans(self, name: str) -> list[PlanState]:
        found = self._find(PLAN, name=name)
        return sorted(found, key=lambda p: (p.status is not rc.PlanStatus.ACTIVE, -p.created_at.timestamp()))

    def resolve_plan(self, name: str) -> PlanState | None:
        """The plan a Bluesky plan name runs under, or ``None``.

        A plan registered under the name comes first (an Active one, else the newest
        deprecated one, which refuses the run), then an Active plan listing the name in its
        ``bluesky_names``, then one whose pattern matches it.

        Raises
        ------
        PlanNameAmbiguousError
            If two Active plans list the name, or none lists it and two patterns match.
        """
        named = self._named_plans(name)
        if named:
            return named[0]
        active = every(self.list_plans, status=rc.PlanStatus.ACTIVE.value)
        for tier in (
            [p for p in active if name in p.bluesky_names],
            [p for p in active if any(fnmatch.fnmatchcase(name, pat) for pat in p.bluesky_names)],
        ):
            if len(tier) > 1:
                names = sorted(p.name for p in tier)
                raise e.PlanNameAmbiguousError(
                    f"the Bluesky plan {name!r} answers to several CORA plans ({', '.join(names)}); keep it in"
                    " the bluesky_names of one of them, or pass cora_plan_id in the run's metadata",
                    name=name,
                    plans=names,
                )
            if tier:
                return tier[0]
        return None

    def list_plans(self, *, status: str | None = None, limit: int = 50, cursor: str | None = None) -> Page:
        return self._page(PLAN, limit=limit, cursor=cursor, status=status)

    def register_subject(self, *, name: str, subject_id: str | None = None) -> SubjectState:
        """Register a sample (Registered)."""
        command = sj.RegisterSubject(subject_id or new_id(), name)
        return self._subject(command)

    def mount_subject(self, subject_id: str) -> SubjectState:
        """Put the sample on the stage: runs may now bind it."""
        return self._subject(sj.MountSubject(subject_id))

    def mark_subject_measured(self, subject_id: str) -> SubjectState:
        """Record that the mounted sample has been measured."""
        return self._subject(sj.MarkSubjectMeasured(subject_id))

    def unmount_subject(self, subject_id: str) -> SubjectState:
        """Take the sample off the stage."""
        return self._subject(sj.UnmountSubject(subject_id))

    def _subject(self, command: Any) -> SubjectState:
        return self._write(SUBJECT, command.subject_id, lambda state: sj.decide(command, state, At(self.now())), command)

    def get_subject(self, subject_id: str) -> SubjectState:
        return self._require(SUBJECT, subject_id, e.SubjectNotFoundError)

    def list_subjects(self, *, status: str | None = None, limit: int = 50, cursor: str | None = None) -> Page:
        return self._page(SUBJECT, limit=limit, cursor=cursor, status=status)
