"""A simulated PSS IOC in a child process, and a writer for its PVs (the record never writes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

#: Both hutches secured, shutters open, no alarms.
DEFAULTS = {
    "A:SECURED_INVALID": 0, "B:SECURED_INVALID": 0, "B:SHUTTER_INVALID": 0,
    "A:SECURED": 1, "B:SECURED": 1, "A:SHUTTER": 0, "B:SHUTTER": 0,
}


class SimulatedPSS:
    """A running PSS IOC on loopback; stop it with :meth:`stop` (it dies with its parent too).

    Parameters
    ----------
    prefix : str, optional
        PV prefix (a fresh one by default, so that two IOCs never answer for one PV).
    port : int, optional
        The Channel Access server port (default: ``$EPICS_CAS_SERVER_PORT``).
    """

    def __init__(self, prefix: str | None = None, *, port: int | None = None, timeout: float = 30) -> None:
        self.prefix = prefix or f"SIM{uuid.uuid4().hex[:6]}:"
        env = dict(os.environ)
        if port is not None:
            env.update(EPICS_CA_SERVER_PORT=str(port), EPICS_CAS_SERVER_PORT=str(port))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cora_bluesky.sim.pss_ioc", "--prefix", self.prefix, "--interfaces", "127.0.0.1",
             "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )
        self._writers: dict[str, object] = {}
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.put("A:SECURED", 1)
                return
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the simulated PSS IOC did not come up") from None
                time.sleep(0.2)

    def pv(self, suffix: str) -> str:
        return self.prefix + suffix

    def put(self, suffix: str, value: int, settle: float = 0.2) -> None:
        """Set a PSS PV, as the interlock itself would."""
        from ophyd import EpicsSignal

        signal = self._writers.get(suffix)
        if signal is None:
            signal = self._writers[suffix] = EpicsSignal(self.pv(suffix), name=suffix.replace(":", "_"))
            signal.wait_for_connection(timeout=5)
        signal.put(value, wait=True)
        time.sleep(settle)  # let monitors deliver the change to readers

    def reset(self) -> None:
        for suffix, value in DEFAULTS.items():
            self.put(suffix, value, settle=0)
        time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        for signal in self._writers.values():
            signal.destroy()
        self._writers.clear()
