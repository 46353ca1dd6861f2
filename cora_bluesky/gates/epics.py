"""Hutch permits read from the Personnel Safety System over EPICS, read-only.

A hutch is permitted when its secured flag reads 1 from a connected PV whose alarm severity is
not INVALID. Shutter PVs (inverted polarity: 0 open, 1 closed) are read for beam state only: a
closed shutter is not a refusal (dark fields are taken that way), but a shutter PV that is
disconnected or INVALID refuses the start, because a reading that cannot be trusted is a
reason to stop. Nothing here ever writes to a PV.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Sequence

from cora_bluesky.domain.equipment import EnclosureState
from cora_bluesky.domain.gates import Permit

SECURED = 1
#: Shutter polarity as the PSS publishes it.
SHUTTER_OPEN, SHUTTER_CLOSED = 0, 1


class EpicsPermits:
    """A :class:`~cora_bluesky.application.ports.PermitSource` over ophyd read-only signals.

    Each PV is connected once, on first use, and reused; a dropped IOC shows as disconnected
    at once and fails closed.

    Parameters
    ----------
    timeout : float
        Seconds to wait for a PV's first connection.
    """

    def __init__(self, *, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self._signals: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _signal(self, pv: str):
        from ophyd import EpicsSignalRO

        with self._lock:
            signal = self._signals.get(pv)
            if signal is None:
                signal = EpicsSignalRO(pv, name=re.sub(r"\W", "_", pv), auto_monitor=True)
                self._signals[pv] = signal
        return signal

    def read(self, pv: str) -> tuple[Any, str | None]:
        """``(value, None)`` for a trustworthy reading, else ``(None, why not)``."""
        from ophyd.utils.epics_pvs import AlarmSeverity

        signal = self._signal(pv)
        if not signal.connected:
            try:
                signal.wait_for_connection(timeout=self.timeout)
            except Exception:
                return None, f"{pv} is disconnected"
        try:
            value = signal.get(timeout=self.timeout)
        except Exception as error:  # an IOC that stopped answering mid-read is a dropped one
            return None, f"{pv} is disconnected or not answering ({type(error).__name__})"
        if not signal.connected:
            return None, f"{pv} is disconnected"
        if signal.alarm_severity == AlarmSeverity.INVALID:
            return None, f"{pv} is in INVALID alarm"
        return value, None

    def permits(self, enclosures: Sequence[EnclosureState]) -> dict[str, Permit]:
        return {enclosure.id: self._permit(enclosure) for enclosure in enclosures}

    def _permit(self, enclosure: EnclosureState) -> Permit:
        secured, problem = self.read(enclosure.secured_pv)
        if problem:
            return Permit(enclosure.id, False, problem)
        if secured != SECURED:
            return Permit(enclosure.id, False, f"{enclosure.secured_pv} reads {secured}: not searched and secured")
        shutters = []
        for pv in enclosure.shutter_pvs:
            state, problem = self.read(pv)
            if problem:
                return Permit(enclosure.id, False, f"shutter {problem}")
            shutters.append(f"{pv} {'closed' if state == SHUTTER_CLOSED else 'open'}")
        return Permit(enclosure.id, True, "; ".join(["secured", *shutters]))

    def close(self) -> None:
        """Drop every connection this source made."""
        with self._lock:
            for signal in self._signals.values():
                signal.destroy()
            self._signals.clear()
