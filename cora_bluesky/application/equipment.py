"""Equipment use cases: hutches, assets in their containment tree, calibration revisions."""

from __future__ import annotations

from typing import Iterable

from cora_bluesky.application.aggregates import ASSET, CALIBRATION, ENCLOSURE, PROCEDURE
from cora_bluesky.application.core import RecordCore, new_id
from cora_bluesky.application.ports import Page
from cora_bluesky.domain import calibration as cal
from cora_bluesky.domain import equipment as eq
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.calibration import CalibrationSource, CalibrationState
from cora_bluesky.domain.equipment import AssetState, EnclosureState
from cora_bluesky.domain.values import At


class EquipmentCommands(RecordCore):
    def register_enclosure(
        self, *, name: str, secured_pv: str, shutter_pvs: Iterable[str] = (), enclosure_id: str | None = None
    ) -> EnclosureState:
        """Register a hutch with the PSS PVs that say whether it is secured and shuttered."""
        command = eq.RegisterEnclosure(enclosure_id or new_id(), name, secured_pv, tuple(shutter_pvs))

        def decide(state: EnclosureState | None) -> tuple:
            names = frozenset(row.name for row in self.store.find(ENCLOSURE.kind, name=command.name.strip()))
            return eq.decide_enclosure(command, state, eq.EnclosureContext(self.now(), names))

        return self._write(ENCLOSURE, command.enclosure_id, decide, command)

    def register_asset(
        self,
        *,
        name: str,
        family: str,
        parent_id: str | None = None,
        enclosure_id: str | None = None,
        device_names: Iterable[str] = (),
        asset_id: str | None = None,
    ) -> AssetState:
        """Register a piece of equipment.

        Parameters
        ----------
        family : str
            What kind of thing it is (``"rotation_stage"``, ``"camera"``); Methods need families.
        parent_id : str, optional
            The assembly it sits inside; hutches declared up the chain apply to it.
        enclosure_id : str, optional
            The hutch it physically sits in, if it declares one itself.
        device_names : iterable of str
            The ophyd device names it answers to in a RunEngine.
        """
        command = eq.RegisterAsset(asset_id or new_id(), name, family, parent_id, enclosure_id, tuple(device_names))
        return self._write(
            ASSET, command.asset_id, lambda state: eq.decide_asset(command, state, self._placement(command)), command
        )

    def move_asset(
        self, asset_id: str, *, parent_id: str | None, enclosure_id: str | None = None
    ) -> AssetState:
        """Re-seat an asset in the containment tree; a cycle is refused."""
        command = eq.MoveAsset(asset_id, parent_id, enclosure_id)
        return self._write(
            ASSET, asset_id, lambda state: eq.decide_asset(command, state, self._placement(command)), command
        )

    def change_asset_devices(self, asset_id: str, *, device_names: Iterable[str]) -> AssetState:
        """Give an asset the ophyd device names it answers to from now on (an unchanged list records nothing)."""
        command = eq.ChangeAssetDevices(asset_id, tuple(device_names))
        return self._write(ASSET, asset_id, lambda s: eq.decide_asset(command, s, At(self.now())), "ChangeAssetDevices")

    def change_asset_family(self, asset_id: str, *, family: str) -> AssetState:
        """Say what kind of thing an asset is from now on; Methods need families."""
        command = eq.ChangeAssetFamily(asset_id, family)
        return self._write(ASSET, asset_id, lambda s: eq.decide_asset(command, s, At(self.now())), "ChangeAssetFamily")

    def _placement(self, command: eq.RegisterAsset | eq.MoveAsset) -> eq.PlacementContext:
        chain = self._asset_chain([command.parent_id] if isinstance(command.parent_id, str) else [])
        enclosure = command.enclosure_id
        known = self._view(ENCLOSURE, enclosure) is not None if isinstance(enclosure, str) else False
        return eq.PlacementContext(self.now(), chain, frozenset({enclosure} if known else ()))

    def decommission_asset(self, asset_id: str) -> AssetState:
        """Retire an asset: runs and procedures binding it are refused from now on."""
        command = eq.DecommissionAsset(asset_id)
        return self._write(ASSET, asset_id, lambda s: eq.decide_asset(command, s, At(self.now())), command)

    def get_asset(self, asset_id: str) -> AssetState:
        return self._require(ASSET, asset_id, e.AssetNotFoundError)

    def list_assets(self, *, status: str | None = None, limit: int = 50, cursor: str | None = None) -> Page:
        return self._page(ASSET, limit=limit, cursor=cursor, status=status)

    def assets_for_devices(self, device_names: Iterable[str]) -> list[AssetState]:
        """Assets that answer to any of these ophyd device names."""
        return self._find(ASSET, refs=[("device", name) for name in device_names])

    def change_enclosure_pvs(self, enclosure_id: str, *, secured_pv: str, shutter_pvs: Iterable[str] = ()) -> EnclosureState:
        """Point a hutch at other PSS PVs; permits are read from them from now on."""
        command = eq.ChangeEnclosurePvs(enclosure_id, secured_pv, tuple(shutter_pvs))
        return self._write(
            ENCLOSURE, enclosure_id, lambda s: eq.decide_enclosure(command, s, At(self.now())), "ChangeEnclosurePvs"
        )

    def find_enclosure(self, name: str) -> EnclosureState | None:
        """The hutch registered under this name, if any."""
        found = self._find(ENCLOSURE, name=name)
        return found[0] if found else None

    def find_asset(self, name: str) -> AssetState | None:
        """The asset registered under this name (an Active one first), if any."""
        found = sorted(self._find(ASSET, name=name), key=lambda a: (a.status is not eq.AssetStatus.ACTIVE, a.created_at))
        return found[0] if found else None

    def get_enclosure(self, enclosure_id: str) -> EnclosureState:
        return self._require(ENCLOSURE, enclosure_id, e.EnclosureNotFoundError)

    def list_enclosures(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        return self._page(ENCLOSURE, limit=limit, cursor=cursor)

    def record_calibration(
        self,
        *,
        asset_id: str,
        quantity: str,
        value: float,
        source: CalibrationSource,
        units: str | None = None,
        calibration_id: str | None = None,
    ) -> CalibrationState:
        """Record a new revision of an asset's calibrated quantity; the newest is active.

        Parameters
        ----------
        source : CalibrationSource
            ``CalibrationSource.procedure(id)``, ``.dataset(uri, checksum)`` or ``.asserted(who)``.
        """
        source = CalibrationSource.coerce(source)
        command = cal.RecordCalibration(calibration_id or new_id(), asset_id, quantity, value, source, units)

        def decide(state: CalibrationState | None) -> tuple:
            procedure = None
            if isinstance(source, CalibrationSource) and source.kind == cal.SourceKind.PROCEDURE:
                procedure = self._view(PROCEDURE, source.ref)
            exists = self._view(ASSET, asset_id) is not None
            return cal.decide(command, state, cal.CalibrationContext(self.now(), exists, procedure))

        return self._write(CALIBRATION, command.calibration_id, decide, command)

    def get_calibration(self, calibration_id: str) -> CalibrationState:
        return self._require(CALIBRATION, calibration_id, e.CalibrationNotFoundError)

    def list_calibrations(self, asset_id: str, quantity: str | None = None) -> list[CalibrationState]:
        """An asset's revisions, oldest first, optionally for one quantity.

        Raises
        ------
        AssetNotFoundError
            No asset has this id: an empty list would say it was never calibrated.
        """
        self.get_asset(asset_id)
        revisions = self._find(CALIBRATION, refs=[("asset", asset_id)])
        revisions = [rev for rev in revisions if quantity is None or rev.quantity == quantity]
        return sorted(revisions, key=lambda rev: rev.created_at)

    def active_calibrations(self, asset_ids: Iterable[str]) -> list[CalibrationState]:
        """The newest revision of each quantity of these assets."""
        revisions = self._find(CALIBRATION, refs=[("asset", a) for a in asset_ids])
        return list(cal.active_revisions(sorted(revisions, key=lambda rev: rev.created_at)).values())
