"""Calibration revisions: values of record for an asset's quantity, each with one source.

A revision comes from a Procedure that measured it, from a dataset it was derived from, or
from a person who asserted it. There is deliberately no way to say that a Run produced one:
acts whose output of record is a calibration are Procedures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Iterable, Mapping

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.procedure import ProcedureState, ProcedureStatus
from cora_bluesky.domain.rules import CALIBRATION_CHECKSUM, CALIBRATION_QUANTITY, CALIBRATION_SOURCE_REF, CALIBRATION_UNITS
from cora_bluesky.domain.values import At, finite_number


class SourceKind(StrEnum):
    PROCEDURE = "procedure"
    DATASET = "dataset"
    ASSERTED = "asserted"


@dataclass(frozen=True)
class CalibrationSource:
    """Where a value of record came from; build one with the class methods."""

    kind: SourceKind
    ref: str
    checksum: str | None = None

    @classmethod
    def procedure(cls, procedure_id: str) -> "CalibrationSource":
        return cls(SourceKind.PROCEDURE, procedure_id)

    @classmethod
    def dataset(cls, uri: str, checksum: str) -> "CalibrationSource":
        return cls(SourceKind.DATASET, uri, checksum)

    @classmethod
    def asserted(cls, person: str) -> "CalibrationSource":
        return cls(SourceKind.ASSERTED, person)

    @classmethod
    def coerce(cls, value: Any) -> Any:
        """A source from the mapping a surface received (kind, ref, checksum); else ``value``."""
        if isinstance(value, Mapping) and set(value) <= {"kind", "ref", "checksum"}:
            if value.get("kind") in set(SourceKind):
                return cls(SourceKind(value["kind"]), value.get("ref"), value.get("checksum"))
        return value


@dataclass(frozen=True)
class CalibrationState:
    id: str
    asset_id: str
    quantity: str
    value: float
    units: str | None
    source: CalibrationSource
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RecordCalibration:
    calibration_id: str
    asset_id: str
    quantity: str
    value: float
    source: CalibrationSource
    units: str | None = None


@dataclass(frozen=True)
class CalibrationRecorded:
    calibration_id: str
    asset_id: str
    quantity: str
    value: float
    units: str | None
    source: CalibrationSource
    occurred_at: datetime


@dataclass(frozen=True)
class CalibrationContext(At):
    asset_exists: bool
    #: The source procedure, when the source is one (``None`` when it is unknown).
    procedure: ProcedureState | None = None


#: A procedure's value is of record while it runs or once it completed; not after an abort.
PROCEDURE_SOURCE_STATUSES = frozenset({ProcedureStatus.RUNNING, ProcedureStatus.COMPLETED})

initial_state = None


def is_terminal(state: CalibrationState | None) -> bool:
    """A revision is immutable once recorded; newer revisions supersede it."""
    return state is not None


def _source(source: Any, asset_id: str, ctx: CalibrationContext) -> CalibrationSource:
    source = CalibrationSource.coerce(source)
    if not isinstance(source, CalibrationSource):
        raise e.InvalidCalibrationSourceError(
            "a calibration names exactly one source: a procedure, a dataset or a person"
        )
    kind = SourceKind(source.kind)
    ref = CALIBRATION_SOURCE_REF.check(source.ref)
    if kind is SourceKind.DATASET:
        checksum = CALIBRATION_CHECKSUM.check(source.checksum)
        return CalibrationSource(kind, ref, checksum)
    if source.checksum is not None:
        raise e.InvalidCalibrationSourceError("only a dataset source carries a checksum")
    if kind is SourceKind.PROCEDURE:
        procedure = ctx.procedure
        if procedure is None:
            raise e.ProcedureNotFoundError(f"no procedure {ref}", procedure_id=ref)
        if procedure.status not in PROCEDURE_SOURCE_STATUSES:
            raise e.InvalidCalibrationSourceError(
                f"procedure {procedure.name!r} is {procedure.status}; only a running or completed"
                " procedure yields a value of record",
                procedure_id=ref,
                status=procedure.status,
            )
        if asset_id not in procedure.target_asset_ids:
            raise e.InvalidCalibrationSourceError(
                f"procedure {procedure.name!r} does not target asset {asset_id}",
                procedure_id=ref,
                asset_id=asset_id,
            )
    return CalibrationSource(kind, ref)


def decide(command: RecordCalibration, state: CalibrationState | None, ctx: CalibrationContext) -> tuple:
    if not isinstance(command, RecordCalibration):
        raise TypeError(f"not a calibration command: {command!r}")
    if state is not None:
        raise e.CalibrationAlreadyExistsError(
            f"calibration {command.calibration_id} already exists", calibration_id=command.calibration_id
        )
    if not ctx.asset_exists:
        raise e.AssetNotFoundError(f"no asset {command.asset_id}", asset_id=str(command.asset_id))
    quantity = CALIBRATION_QUANTITY.check(command.quantity)
    value = finite_number(command.value, e.InvalidCalibrationValueError, what="value")
    units = CALIBRATION_UNITS.check_optional(command.units)
    source = _source(command.source, command.asset_id, ctx)
    return (
        CalibrationRecorded(command.calibration_id, command.asset_id, quantity, value, units, source, ctx.now),
    )


def evolve(state: CalibrationState | None, event: CalibrationRecorded) -> CalibrationState:
    return CalibrationState(
        id=event.calibration_id,
        asset_id=event.asset_id,
        quantity=event.quantity,
        value=event.value,
        units=event.units,
        source=event.source,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
    )


def active_revisions(revisions: Iterable[CalibrationState]) -> dict[tuple[str, str], CalibrationState]:
    """The newest revision per ``(asset_id, quantity)``; later input wins a tie in time."""
    active: dict[tuple[str, str], CalibrationState] = {}
    for revision in revisions:
        key = (revision.asset_id, revision.quantity)
        current = active.get(key)
        if current is None or revision.created_at >= current.created_at:
            active[key] = revision
    return active


EVENTS = (CalibrationRecorded,)
