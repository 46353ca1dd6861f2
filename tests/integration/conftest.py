"""Real parts for the RunEngine tests: a PSS IOC on loopback, a record, a RunEngine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from support import build_beamline

import cora_bluesky

IOC_SCRIPT = Path(__file__).with_name("pss_ioc.py")


class PSSIoc:
    """A running PSS IOC and a test-side writer for its PVs (cora-bluesky itself never writes)."""

    def __init__(self, *, spare_port: bool = False) -> None:
        self.prefix = f"T{uuid.uuid4().hex[:8]}:"
        env = dict(os.environ)
        if spare_port:
            port = os.environ["CORA_TEST_SPARE_CA_PORT"]
            env.update(EPICS_CA_SERVER_PORT=port, EPICS_CAS_SERVER_PORT=port)
        self.process = subprocess.Popen(
            [sys.executable, str(IOC_SCRIPT), "--prefix", self.prefix, "--interfaces", "127.0.0.1", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )
        self._writers: dict[str, object] = {}
        deadline = time.monotonic() + 30
        while True:
            try:
                self.put("A:SECURED", 1)
                break
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the test PSS IOC did not come up")
                time.sleep(0.2)

    def pv(self, suffix: str) -> str:
        return self.prefix + suffix

    def put(self, suffix: str, value: int, settle: float = 0.2) -> None:
        from ophyd import EpicsSignal

        signal = self._writers.get(suffix)
        if signal is None:
            signal = self._writers[suffix] = EpicsSignal(self.pv(suffix), name=suffix.replace(":", "_"))
            signal.wait_for_connection(timeout=5)
        signal.put(value, wait=True)
        time.sleep(settle)  # let monitors deliver the change to readers

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        for signal in self._writers.values():
            signal.destroy()
        self._writers.clear()


    def reset(self) -> None:
        """Both hutches secured, shutters open, no alarms."""
        for suffix, value in DEFAULTS.items():
            self.put(suffix, value, settle=0)
        time.sleep(0.2)


DEFAULTS = {
    "A:SECURED_INVALID": 0, "B:SECURED_INVALID": 0, "B:SHUTTER_INVALID": 0,
    "A:SECURED": 1, "B:SECURED": 1, "A:SHUTTER": 0, "B:SHUTTER": 0,
}


@pytest.fixture(scope="session")
def shared_ioc():
    server = PSSIoc()
    yield server
    server.stop()


@pytest.fixture
def ioc(shared_ioc):
    """The session's PSS IOC, reset to both hutches secured before each test."""
    shared_ioc.reset()
    return shared_ioc


@pytest.fixture
def epics_permits():
    from cora_bluesky.gates.epics import EpicsPermits

    permits = EpicsPermits(timeout=1.0)
    yield permits
    permits.close()


@pytest.fixture
def beamline(tmp_path, ioc, epics_permits, clock):
    """A record whose two hutches are wired to the test IOC, with the 2-BM beamline registered."""
    record = cora_bluesky.connect(f"sqlite:///{tmp_path / 'record.db'}", permits=epics_permits, clock=clock)
    ids = build_beamline(record, activate=False, pvs={
        "2-BM-A": (ioc.pv("A:SECURED"), [ioc.pv("A:SHUTTER")]),
        "2-BM-B": (ioc.pv("B:SECURED"), [ioc.pv("B:SHUTTER")]),
    })
    yield record, ids
    record.close()


@pytest.fixture
def served(tmp_path, clock):
    """The record server over a fresh SQLite file; see ``serving.Served``."""
    from serving import Served

    server = Served(f"sqlite:///{tmp_path / 'record.db'}", clock=clock)
    yield server
    server.close()
