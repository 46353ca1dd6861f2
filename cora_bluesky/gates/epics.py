"""Hutch permits read from the Personnel Safety System over EPICS, read-only.

A hutch is permitted when its secured flag reads 1 from a connected PV whose alarm severity is
not INVALID. Shutter PVs (inverted polarity: 0 open, 1 closed) are read for beam state only: a
closed shutter is not a refusal (dark fields are taken that way), but a shutter PV that is
disconnected or INVALID refuses the start, because a reading that cannot be trusted is a
reason to stop. Nothing here ever writes to a PV.
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

from cora_bluesky.domain.equipment import EnclosureState
from cora_bluesky.domain.gates import Permit

SECURED = 1
#: Shutter polarity as the PSS publishes it.
SHUTTER_OPEN, SHUTTER_CLOSED = 0, 1


class EpicsPermits:
    """A :class:`~cora_bluesky.application.ports.PermitSource` over read-only Channel Access.

    Each PV's channel is connected once and kept, but every decision reads the PV anew (an
    explicit get, never a monitor's last update), so a hutch that another client already reads
    as unsecured never permits a start. Value and alarm severity come from the same reply. A
    dropped IOC or a read that times out fails closed.

    Parameters
    ----------
    timeout : float
        Seconds to wait for a PV's first connection, and for each read.
    """

    def __init__(self, *, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self._pvs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _pv(self, pv: str):
        from ophyd import cl  # the control layer ophyd uses: caproto, or pyepics where installed

        with self._lock:
            channel = self._pvs.get(pv)
            if channel is None:
                channel = self._pvs[pv] = cl.get_pv(pv, form="time", auto_monitor=False)
        return channel

    def read(self, pv: str) -> tuple[Any, str | None]:
        """``(value, None)`` for a trustworthy reading taken now, else ``(None, why not)``."""
        from ophyd.utils.epics_pvs import AlarmSeverity

        channel = self._pv(pv)
        try:
            if not channel.connected:
                channel.wait_for_connection(timeout=self.timeout)
            reading = channel.get_with_metadata(use_monitor=False, form="time", timeout=self.timeout)
        except Exception as error:  # an IOC that stopped answering mid-read is a dropped one
            return None, f"{pv} is disconnected or not answering ({type(error).__name__})"
        if reading is None or not channel.connected:
            return None, f"{pv} is disconnected"
        if reading.get("severity") == AlarmSeverity.INVALID:
            return None, f"{pv} is in INVALID alarm"
        return reading.get("value"), None

    def permits(self, enclosures: Sequence[EnclosureState]) -> dict[str, Permit]:
        pvs = list(dict.fromkeys(pv for hutch in enclosures for pv in (hutch.secured_pv, *hutch.shutter_pvs)))
        readings = {pv: self.read(pv) for pv in pvs}  # each PV once, even when hutches share one
        return {enclosure.id: self._permit(enclosure, readings) for enclosure in enclosures}

    def _permit(self, enclosure: EnclosureState, readings: dict[str, tuple[Any, str | None]]) -> Permit:
        secured, problem = readings[enclosure.secured_pv]
        if problem:
            return Permit(enclosure.id, False, problem)
        if secured != SECURED:
            return Permit(enclosure.id, False, f"{enclosure.secured_pv} reads {secured}: not searched and secured")
        shutters = []
        for pv in enclosure.shutter_pvs:
            state, problem = readings[pv]
            if problem:
                return Permit(enclosure.id, False, f"shutter {problem}")
            shutters.append(f"{pv} {'closed' if state == SHUTTER_CLOSED else 'open'}")
        return Permit(enclosure.id, True, "; ".join(["secured", *shutters]))

    def close(self) -> None:
        """Drop every connection this source made."""
        from ophyd import cl

        with self._lock:
            cl.release_pvs(*self._pvs.values())
            self._pvs.clear()
