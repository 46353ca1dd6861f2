"""Equipment: assets in a containment tree, and the enclosures (hutches) they sit in."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Mapping

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.rules import ASSET_DEVICE_NAMES, ASSET_FAMILY, ASSET_NAME, ENCLOSURE_NAME, ENCLOSURE_PV, ID_LENGTH
from cora_bluesky.domain.values import At, optional_text


class AssetStatus(StrEnum):
    ACTIVE = "Active"
    DECOMMISSIONED = "Decommissioned"


@dataclass(frozen=True)
class AssetState:
    id: str
    name: str
    family: str
    parent_id: str | None
    enclosure_id: str | None
    device_names: tuple[str, ...]
    status: AssetStatus
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EnclosureState:
    """A hutch: an access-gated volume with its own Personnel Safety System permit."""

    id: str
    name: str
    secured_pv: str
    shutter_pvs: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


# --- commands and events ----------------------------------------------------------------


@dataclass(frozen=True)
class RegisterAsset:
    asset_id: str
    name: str
    family: str
    parent_id: str | None = None
    enclosure_id: str | None = None
    device_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class MoveAsset:
    asset_id: str
    parent_id: str | None
    enclosure_id: str | None


@dataclass(frozen=True)
class DecommissionAsset:
    asset_id: str


@dataclass(frozen=True)
class AssetRegistered:
    asset_id: str
    name: str
    family: str
    parent_id: str | None
    enclosure_id: str | None
    device_names: tuple[str, ...]
    occurred_at: datetime


@dataclass(frozen=True)
class AssetMoved:
    asset_id: str
    parent_id: str | None
    enclosure_id: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class AssetDecommissioned:
    asset_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class RegisterEnclosure:
    enclosure_id: str
    name: str
    secured_pv: str
    shutter_pvs: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnclosureRegistered:
    enclosure_id: str
    name: str
    secured_pv: str
    shutter_pvs: tuple[str, ...]
    occurred_at: datetime


@dataclass(frozen=True)
class ChangeAssetDevices:
    """Give an asset the ophyd device names it answers to from now on."""

    asset_id: str
    device_names: tuple[str, ...]


@dataclass(frozen=True)
class ChangeAssetFamily:
    asset_id: str
    family: str


@dataclass(frozen=True)
class AssetDevicesChanged:
    asset_id: str
    device_names: tuple[str, ...]
    occurred_at: datetime


@dataclass(frozen=True)
class AssetFamilyChanged:
    asset_id: str
    family: str
    occurred_at: datetime


@dataclass(frozen=True)
class ChangeEnclosurePvs:
    """Point a hutch at other PSS PVs (a rewired or renamed interlock)."""

    enclosure_id: str
    secured_pv: str
    shutter_pvs: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnclosurePvsChanged:
    enclosure_id: str
    secured_pv: str
    shutter_pvs: tuple[str, ...]
    occurred_at: datetime


@dataclass(frozen=True)
class PlacementContext(At):
    """What a registration or move must know: the proposed parent's chain and enclosures."""

    assets: Mapping[str, AssetState]
    enclosure_ids: frozenset[str]


@dataclass(frozen=True)
class EnclosureContext(At):
    names_taken: frozenset[str]


initial_state = None

#: What an asset in each status may still be told; an absent command is refused with the
#: error next to it.
ASSET_TRANSITIONS: Mapping[AssetStatus, frozenset[str]] = {
    AssetStatus.ACTIVE: frozenset({"MoveAsset", "DecommissionAsset", "ChangeAssetDevices", "ChangeAssetFamily"}),
    AssetStatus.DECOMMISSIONED: frozenset(),
}


def is_terminal(state: AssetState | None) -> bool:
    return state is not None and state.status is AssetStatus.DECOMMISSIONED


def ancestors(asset_id: str, assets: Mapping[str, AssetState]) -> list[str]:
    """Ids from ``asset_id``'s parent up to the root; stops at an unknown id or a cycle."""
    chain: list[str] = []
    seen = {asset_id}
    current = assets.get(asset_id)
    while current is not None and current.parent_id is not None:
        if current.parent_id in seen:
            break
        seen.add(current.parent_id)
        chain.append(current.parent_id)
        current = assets.get(current.parent_id)
    return chain


def _placement(
    asset_id: str, parent_id: str | None, enclosure_id: str | None, ctx: PlacementContext
) -> tuple[str | None, str | None]:
    parent = optional_text(parent_id, e.AssetNotFoundError, what="parent_id", high=ID_LENGTH)
    enclosure = optional_text(enclosure_id, e.EnclosureNotFoundError, what="enclosure_id", high=ID_LENGTH)
    if parent is not None:
        if parent == asset_id or asset_id in ancestors(parent, ctx.assets):
            raise e.AssetContainmentCycleError(
                f"asset {asset_id} cannot sit inside {parent}: that would make a containment cycle",
                asset_id=asset_id,
                parent_id=parent,
            )
        if parent not in ctx.assets:
            raise e.AssetNotFoundError(f"no parent asset {parent}", asset_id=parent)
    if enclosure is not None and enclosure not in ctx.enclosure_ids:
        raise e.EnclosureNotFoundError(
            f"no enclosure {enclosure}; register the hutch first", enclosure_id=enclosure
        )
    return parent, enclosure


def decide_asset(command, state: AssetState | None, ctx: At) -> tuple:
    """Decide an asset command against the asset's current state."""
    if isinstance(command, RegisterAsset):
        if state is not None:
            raise e.AssetAlreadyExistsError(
                f"asset {command.asset_id} already exists", asset_id=command.asset_id
            )
        assert isinstance(ctx, PlacementContext)
        name = ASSET_NAME.check(command.name)
        family = ASSET_FAMILY.check(command.family)
        devices = ASSET_DEVICE_NAMES.check_each(command.device_names)
        parent, enclosure = _placement(command.asset_id, command.parent_id, command.enclosure_id, ctx)
        return (
            AssetRegistered(command.asset_id, name, family, parent, enclosure, devices, ctx.now),
        )
    if state is None:
        raise e.AssetNotFoundError(f"no asset {command.asset_id}", asset_id=command.asset_id)
    if isinstance(command, MoveAsset):
        if state.status is not AssetStatus.ACTIVE:
            raise e.AssetCannotMoveError(
                f"asset {state.name} is {state.status}", asset_id=state.id, status=state.status
            )
        assert isinstance(ctx, PlacementContext)
        parent, enclosure = _placement(state.id, command.parent_id, command.enclosure_id, ctx)
        return (AssetMoved(state.id, parent, enclosure, ctx.now),)
    if isinstance(command, DecommissionAsset):
        if state.status is not AssetStatus.ACTIVE:
            raise e.AssetCannotDecommissionError(
                f"asset {state.name} is already {state.status}", asset_id=state.id
            )
        return (AssetDecommissioned(state.id, ctx.now),)
    if isinstance(command, (ChangeAssetDevices, ChangeAssetFamily)):
        if type(command).__name__ not in ASSET_TRANSITIONS[state.status]:
            raise e.AssetCannotChangeError(
                f"asset {state.name} is {state.status}: what it is and the devices it answers to stay as"
                " they were",
                asset_id=state.id,
                status=state.status,
            )
        if isinstance(command, ChangeAssetDevices):
            devices = ASSET_DEVICE_NAMES.check_each(command.device_names)
            return () if devices == state.device_names else (AssetDevicesChanged(state.id, devices, ctx.now),)
        family = ASSET_FAMILY.check(command.family)
        return () if family == state.family else (AssetFamilyChanged(state.id, family, ctx.now),)
    raise TypeError(f"not an asset command: {command!r}")


def evolve_asset(state: AssetState | None, event) -> AssetState:
    if isinstance(event, AssetRegistered):
        return AssetState(
            id=event.asset_id,
            name=event.name,
            family=event.family,
            parent_id=event.parent_id,
            enclosure_id=event.enclosure_id,
            device_names=event.device_names,
            status=AssetStatus.ACTIVE,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
    assert state is not None
    if isinstance(event, AssetMoved):
        return replace(
            state,
            parent_id=event.parent_id,
            enclosure_id=event.enclosure_id,
            updated_at=event.occurred_at,
        )
    if isinstance(event, AssetDecommissioned):
        return replace(state, status=AssetStatus.DECOMMISSIONED, updated_at=event.occurred_at)
    if isinstance(event, AssetDevicesChanged):
        return replace(state, device_names=event.device_names, updated_at=event.occurred_at)
    if isinstance(event, AssetFamilyChanged):
        return replace(state, family=event.family, updated_at=event.occurred_at)
    raise TypeError(f"not an asset event: {event!r}")


def _pv(value, what: str) -> str:
    return ENCLOSURE_PV.check(value, what=what)


def _pvs(command: RegisterEnclosure | ChangeEnclosurePvs) -> tuple[str, tuple[str, ...]]:
    secured = _pv(command.secured_pv, "secured_pv")
    if isinstance(command.shutter_pvs, str) or not isinstance(command.shutter_pvs, (tuple, list)):
        raise e.InvalidEnclosurePvError("shutter_pvs must be a list of PV names", field="shutter_pvs")
    return secured, tuple(_pv(pv, "shutter_pvs") for pv in command.shutter_pvs)


def decide_enclosure(command, state: EnclosureState | None, ctx: At) -> tuple:
    """Register a hutch, or point it at other PSS PVs (an unchanged set records nothing)."""
    if isinstance(command, ChangeEnclosurePvs):
        if state is None:
            raise e.EnclosureNotFoundError(f"no enclosure {command.enclosure_id}", enclosure_id=command.enclosure_id)
        secured, shutters = _pvs(command)
        if (secured, shutters) == (state.secured_pv, state.shutter_pvs):
            return ()
        return (EnclosurePvsChanged(state.id, secured, shutters, ctx.now),)
    if not isinstance(command, RegisterEnclosure):
        raise TypeError(f"not an enclosure command: {command!r}")
    if state is not None:
        raise e.EnclosureAlreadyExistsError(
            f"enclosure {command.enclosure_id} already exists", enclosure_id=command.enclosure_id
        )
    assert isinstance(ctx, EnclosureContext)
    name = ENCLOSURE_NAME.check(command.name)
    if name in ctx.names_taken:
        raise e.EnclosureAlreadyExistsError(f"an enclosure named {name!r} exists", name=name)
    secured, shutters = _pvs(command)
    return (EnclosureRegistered(command.enclosure_id, name, secured, shutters, ctx.now),)


def evolve_enclosure(state: EnclosureState | None, event) -> EnclosureState:
    if isinstance(event, EnclosurePvsChanged):
        assert state is not None
        return replace(state, secured_pv=event.secured_pv, shutter_pvs=event.shutter_pvs, updated_at=event.occurred_at)
    return EnclosureState(
        id=event.enclosure_id,
        name=event.name,
        secured_pv=event.secured_pv,
        shutter_pvs=event.shutter_pvs,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
    )


ASSET_EVENTS = (AssetRegistered, AssetMoved, AssetDecommissioned, AssetDevicesChanged, AssetFamilyChanged)
ENCLOSURE_EVENTS = (EnclosureRegistered, EnclosurePvsChanged)
