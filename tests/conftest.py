"""Test-wide settings: Hypothesis judges correctness here, never speed (these machines are noisy)."""

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "cora",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("cora")


def _pin_epics_to_loopback() -> None:
    """Channel Access for the test IOCs stays on 127.0.0.1, on ports no other run is using.

    This must happen before ophyd (and with it caproto's client) is imported anywhere. Unicast
    search reaches one IOC per port: a test that needs an IOC of its own uses the spare port.
    """
    import os

    from cora_bluesky.sim.loopback import free_port, pin_epics_to_loopback

    spare_port = free_port()
    os.environ["CORA_TEST_SPARE_CA_PORT"] = str(spare_port)
    pin_epics_to_loopback(spare_port=spare_port)


_pin_epics_to_loopback()


def _private_data_directory() -> None:
    """Spools and default records of the tests stay out of the user's data directory."""
    import os
    import tempfile

    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="cora-tests-")


_private_data_directory()


@pytest.fixture
def clock():
    """A test-driven clock for records (see ``support.Clock``)."""
    from support import Clock

    return Clock()


@pytest.fixture(scope="session", autouse=True)
def _stop_wire_server():
    """The MongoDB wire-protocol server some tests start lives until the session ends."""
    yield
    from support import stop_wire_server

    stop_wire_server()


@pytest.fixture
def mongodb_uri():
    """A fresh database on the session's MongoDB server, dropped after the test."""
    from support import drop_store, fresh_mongodb_uri

    uri = fresh_mongodb_uri()
    yield uri
    drop_store(uri)
