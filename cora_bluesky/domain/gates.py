"""The two start gates: an Active clearance covering the scope, and permitted hutches.

Both are pure decisions over context the application has loaded. The hutch scope is derived
from the equipment, never declared by a recipe: each bound asset is walked up its containment
chain and every hutch a level declares joins the scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Mapping, Sequence

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.clearance import ClearanceState, in_force, references
from cora_bluesky.domain.equipment import AssetState, EnclosureState, ancestors


@dataclass(frozen=True)
class Permit:
    """One hutch's permit as read from the Personnel Safety System."""

    enclosure_id: str
    permitted: bool
    detail: str = ""


def check_clearances(
    clearances: Sequence[ClearanceState],
    *,
    run_id: str,
    subject_id: str | None,
    asset_ids: Iterable[str],
    now: datetime,
) -> ClearanceState:
    """Return a clearance in force over the scope, or raise the refusal that says what to do."""
    assets = tuple(asset_ids)
    referencing = [c for c in clearances if references(c, run_id, subject_id, assets)]
    for clearance in referencing:
        if in_force(clearance, now):
            return clearance
    if not referencing:
        raise e.RunRequiresActiveClearanceError(
            "no clearance covers this run, its subject or its equipment; register the facility's"
            " safety form as a clearance bound to one of them and walk it to Active",
            run_id=run_id,
            subject_id=subject_id,
            asset_ids=list(assets),
        )
    raise e.RunClearanceCoverageMismatchError(
        f"{len(referencing)} clearance(s) cover this run but none is in force; finish review,"
        " activate or renew one of them",
        count=len(referencing),
        clearances=[
            {"id": c.id, "title": c.title, "status": str(c.status)} for c in referencing
        ],
    )


def covering(
    clearances: Sequence[ClearanceState],
    *,
    run_id: str,
    subject_id: str | None,
    asset_ids: Iterable[str],
    now: datetime,
) -> tuple[ClearanceState, ...]:
    """Every clearance in force over the scope: those a started run records as authorizing it."""
    assets = tuple(asset_ids)
    return tuple(c for c in clearances if references(c, run_id, subject_id, assets) and in_force(c, now))


def check_safety_forms(clearances: Sequence[ClearanceState], forms: Iterable[str]) -> None:
    """Refuse a run naming a safety form that the numbered clearances in force do not carry.

    A clearance without a form number cannot contradict the metadata; once any clearance in
    force carries one, each form the run names must be among them.
    """
    numbers = {c.form_number for c in clearances if c.form_number is not None}
    for form in forms:
        if numbers and form not in numbers:
            raise e.RunSafetyFormMismatchError(
                f"the run names safety form {form!r}, but the clearances in force over it carry"
                f" {', '.join(sorted(numbers))}; name the form that covers this run, or have the"
                " safety officer put that form's clearance in force",
                safety_form=form,
                clearances=[
                    {"id": c.id, "title": c.title, "form_number": c.form_number} for c in clearances if c.form_number
                ],
            )


def enclosure_scope(asset_ids: Iterable[str], assets: Mapping[str, AssetState]) -> tuple[str, ...]:
    """Hutch ids declared by the bound assets or anything they sit inside, in walk order."""
    scope: dict[str, None] = {}
    for asset_id in asset_ids:
        for level in (asset_id, *ancestors(asset_id, assets)):
            asset = assets.get(level)
            if asset is not None and asset.enclosure_id is not None:
                scope.setdefault(asset.enclosure_id)
    return tuple(scope)


def unpermitted(
    scope: Sequence[str],
    enclosures: Mapping[str, EnclosureState],
    permits: Mapping[str, Permit],
) -> dict[str, str]:
    """Hutch name -> why it is not permitted, for each hutch of ``scope`` that is not."""
    failing = {}
    for hutch in scope:
        permit = permits.get(hutch)
        if permit is None or not permit.permitted:
            enclosure = enclosures.get(hutch)
            failing[enclosure.name if enclosure is not None else hutch] = (
                permit.detail if permit is not None else "no permit reading"
            )
    return failing


def explain(details: Mapping[str, str]) -> str:
    return "; ".join(f"{hutch}: {why}" for hutch, why in details.items())


def check_enclosures(
    scope: Sequence[str],
    enclosures: Mapping[str, EnclosureState],
    permits: Mapping[str, Permit],
) -> None:
    """Refuse unless every hutch in ``scope`` is permitted; a hutch with no reading fails."""
    details = unpermitted(scope, enclosures, permits)
    if not details:
        return
    if len(details) == len(scope):
        raise e.RunRequiresPermittedEnclosureError(
            f"no hutch in this run's scope is permitted ({explain(details)}); search and secure it",
            hutches=list(details),
            details=details,
        )
    permitted = [h for h in scope if permits.get(h) and permits[h].permitted]
    raise e.RunEnclosureCoverageMismatchError(
        f"hutch(es) {', '.join(details)} not permitted ({explain(details)});"
        " search and secure them before starting",
        hutches=list(details),
        permitted=[enclosures[h].name if h in enclosures else h for h in permitted],
        details=details,
    )


@dataclass(frozen=True)
class GateContext:
    """What both gates read for one scope, loaded by the application."""

    now: datetime
    clearances: Sequence[ClearanceState]
    #: The bound assets and every asset above them in the containment chain.
    assets: Mapping[str, AssetState]
    enclosures: Mapping[str, EnclosureState]
    permits: Mapping[str, Permit]


def check_scope(run_id: str, subject_id: str | None, asset_ids: Sequence[str], ctx: GateContext) -> None:
    """Both gates, clearance first: the same checks a start and a gated resume must pass."""
    check_clearances(ctx.clearances, run_id=run_id, subject_id=subject_id, asset_ids=asset_ids, now=ctx.now)
    check_enclosures(enclosure_scope(asset_ids, ctx.assets), ctx.enclosures, ctx.permits)
