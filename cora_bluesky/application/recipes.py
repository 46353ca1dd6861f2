"""Recipe and subject use cases: methods, plans, and samples on and off the stage."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from cora_bluesky.application.aggregates import ASSET, METHOD, PLAN, SUBJECT
from cora_bluesky.application.core import RecordCore, new_id
from cora_bluesky.application.ports import Page
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
        plan_id: str | None = None,
    ) -> PlanState:
        """Register how this beamline runs a Method; ``name`` is the Bluesky plan's name."""
        command = rc.RegisterPlan(
            plan_id or new_id(), name, method_id, {} if default_parameters is None else default_parameters, tuple(asset_ids)
        )

        def decide(state: PlanState | None) -> tuple:
            ids = [a for a in command.asset_ids if isinstance(a, str)]
            ctx = rc.PlanContext(
                self.now(),
                self._names_taken(PLAN, command.name),
                self._view(METHOD, command.method_id),
                frozenset(self._views(ASSET, ids)),
            )
            return rc.decide_plan(command, state, ctx)

        return self._write(PLAN, command.plan_id, decide, command)

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

    def list_methods(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        return self._page(METHOD, limit=limit, cursor=cursor)

    def get_plan(self, plan_id: str) -> PlanState:
        return self._require(PLAN, plan_id, e.PlanNotFoundError)

    def find_plan(self, name: str) -> PlanState:
        """The plan registered under this name (a Bluesky plan's name)."""
        found = self._find(PLAN, name=name)
        if not found:
            raise e.PlanNotFoundError(
                f"no CORA plan is registered under the name {name!r}; register one with register_plan",
                name=name,
            )
        return found[0]

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
