"""Equipment: hutches, assets in their containment tree, and calibration revisions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cora_bluesky.application.aggregates import ASSET, CALIBRATION, ENCLOSURE
from cora_bluesky.application.codec import encode
from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.calibration import CalibrationSource, CalibrationState, SourceKind
from cora_bluesky.domain.equipment import AssetState, EnclosureState
from cora_bluesky.server.auth import administrator, operator, reader
from cora_bluesky.server.errors import responses
from cora_bluesky.server.routes.common import Filter, OptionalKey, Paging, PathId, create, page, transition
from cora_bluesky.application.messages import MoveAssetIn, RecordCalibrationIn, RegisterAssetIn, RegisterEnclosureIn
from cora_bluesky.application.responses import PageOut

router = APIRouter(tags=["equipment"])


@router.post(
    "/enclosures",
    status_code=201,
    response_model=EnclosureState,
    responses=responses(
        e.EnclosureAlreadyExistsError, e.InvalidEnclosureNameError, e.InvalidEnclosurePvError, keyed="optional"
    ),
)
def register_enclosure(
    body: RegisterEnclosureIn, request: Request, idempotency_key: OptionalKey = None, record: Record = administrator
) -> Response:
    """Register a hutch with the read-only PSS PVs that say whether it is secured."""
    return create(request, record, body, ENCLOSURE, "register_enclosure", Record.get_enclosure)


@router.get("/enclosures", response_model=PageOut[EnclosureState], responses=responses(e.InvalidCursorError))
def list_enclosures(paging: Paging, record: Record = reader) -> dict[str, Any]:
    return page(record.list_enclosures(limit=paging.limit, cursor=paging.cursor))


@router.get("/enclosures/{enclosure_id}", response_model=EnclosureState, responses=responses(e.EnclosureNotFoundError))
def get_enclosure(enclosure_id: PathId, record: Record = reader) -> dict[str, Any]:
    return encode(record.get_enclosure(enclosure_id))


@router.post(
    "/assets",
    status_code=201,
    response_model=AssetState,
    responses=responses(
        e.AssetAlreadyExistsError,
        e.AssetNotFoundError,
        e.EnclosureNotFoundError,
        e.AssetContainmentCycleError,
        e.InvalidAssetNameError,
        e.InvalidAssetFamilyError,
        e.InvalidAssetDeviceNamesError,
        keyed="optional",
    ),
)
def register_asset(
    body: RegisterAssetIn, request: Request, idempotency_key: OptionalKey = None, record: Record = administrator
) -> Response:
    """Register equipment, placed inside its parent assembly and/or a hutch."""
    return create(request, record, body, ASSET, "register_asset", Record.get_asset)


@router.get(
    "/assets", response_model=PageOut[AssetState], responses=responses(e.InvalidCursorError, e.InvalidListQueryError)
)
def list_assets(paging: Paging, status: Filter = None, record: Record = reader) -> dict[str, Any]:
    return page(record.list_assets(status=status, limit=paging.limit, cursor=paging.cursor))


@router.get("/assets/{asset_id}", response_model=AssetState, responses=responses(e.AssetNotFoundError))
def get_asset(asset_id: PathId, record: Record = reader) -> dict[str, Any]:
    return encode(record.get_asset(asset_id))


transition(
    router,
    "/assets/{asset_id}/decommission",
    "decommission_asset",
    administrator,
    AssetState,
    (e.AssetNotFoundError, e.AssetCannotDecommissionError),
    "Retire an asset: runs and procedures binding it are refused from now on.",
)


transition(
    router,
    "/assets/{asset_id}/move",
    "move_asset",
    administrator,
    AssetState,
    (e.AssetNotFoundError, e.AssetCannotMoveError, e.AssetContainmentCycleError, e.EnclosureNotFoundError),
    "Re-seat an asset in the containment tree.",
    body=MoveAssetIn,
)


@router.post(
    "/calibrations",
    status_code=201,
    response_model=CalibrationState,
    responses=responses(
        e.CalibrationAlreadyExistsError,
        e.AssetNotFoundError,
        e.InvalidCalibrationQuantityError,
        e.InvalidCalibrationValueError,
        e.InvalidCalibrationUnitsError,
        e.InvalidCalibrationSourceError,
        keyed="optional",
    ),
)
def record_calibration(
    body: RecordCalibrationIn, request: Request, idempotency_key: OptionalKey = None, record: Record = operator
) -> Response:
    """Record a new revision of an asset's calibrated quantity; the newest is the one in force."""
    source = CalibrationSource(SourceKind(body.source.kind), body.source.ref, body.source.checksum)
    fields = {**body.model_dump(exclude={"source"}), "source": source}
    return create(request, record, body, CALIBRATION, "record_calibration", Record.get_calibration, fields=fields)


@router.get("/calibrations", response_model=list[CalibrationState], responses=responses(e.AssetNotFoundError))
def list_calibrations(asset_id: PathId, quantity: Filter = None, record: Record = reader) -> list[dict[str, Any]]:
    """An asset's calibration revisions, oldest first, optionally of one quantity."""
    record.get_asset(asset_id)
    return [encode(revision) for revision in record.list_calibrations(asset_id, quantity)]


@router.get(
    "/calibrations/{calibration_id}", response_model=CalibrationState, responses=responses(e.CalibrationNotFoundError)
)
def get_calibration(calibration_id: PathId, record: Record = reader) -> dict[str, Any]:
    return encode(record.get_calibration(calibration_id))
