"""Real parts for the RunEngine tests: a PSS IOC on loopback, a record, a RunEngine."""

from __future__ import annotations

import pytest
from support import STORES, PSSIoc, build_beamline, drop_store, staff

import cora_bluesky


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
    staff(record, jdoe=("operator",))  # the operator some tests install the gate as
    ids = build_beamline(record, activate=False, pvs={
        "2-BM-A": (ioc.pv("A:SECURED"), [ioc.pv("A:SHUTTER")]),
        "2-BM-B": (ioc.pv("B:SECURED"), [ioc.pv("B:SHUTTER")]),
    })
    yield record, ids
    record.close()


@pytest.fixture(params=sorted(STORES))
def served(request, tmp_path, clock):
    """The record server over a fresh record in each store; see ``serving.Served``."""
    from serving import Served

    uri = STORES[request.param](tmp_path)
    server = Served(uri, clock=clock)
    yield server
    server.close()
    drop_store(uri)



def _serve(tmp_path_factory, kind: str):
    pytest.importorskip("tiled.server", reason="needs the data extra: pip install -e '.[data]'")
    from cora_bluesky.sim.catalog_server import CatalogServer

    with CatalogServer(tmp_path_factory.mktemp(kind), kind) as server:
        yield server.address


@pytest.fixture(scope="module")
def tiled_server(tmp_path_factory):
    """The address of a Tiled server with an empty SQL catalog of Bluesky runs (a subprocess)."""
    yield from _serve(tmp_path_factory, "tiled")


@pytest.fixture(scope="module")
def databroker_server(tmp_path_factory):
    """The address of a databroker v2 catalog (MongoDB-normalized, over mongomock; a subprocess)."""
    pytest.importorskip("databroker.mongo_normalized", reason="needs the data extra: pip install -e '.[data]'")
    yield from _serve(tmp_path_factory, "databroker")
