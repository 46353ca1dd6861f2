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

    This must happen before ophyd (and with it caproto's client) is imported anywhere.
    """
    import os
    import socket

    def free_port() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                return free_port()
            return port

    server_port, spare_port = free_port(), free_port()
    # unicast search reaches one IOC per port: a test that needs an IOC of its own uses the spare
    os.environ["CORA_TEST_SPARE_CA_PORT"] = str(spare_port)
    os.environ.update(
        {
            "EPICS_CA_ADDR_LIST": f"127.0.0.1 127.0.0.1:{spare_port}",
            "EPICS_CA_AUTO_ADDR_LIST": "NO",
            "EPICS_CA_SERVER_PORT": str(server_port),
            "EPICS_CA_REPEATER_PORT": str(free_port()),
            "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
            "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
            "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
            "EPICS_CAS_SERVER_PORT": str(server_port),
            "OPHYD_CONTROL_LAYER": "caproto",
        }
    )


_pin_epics_to_loopback()


def _private_data_directory() -> None:
    """Spools and default records of the tests stay out of the user's data directory."""
    import os
    import tempfile

    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="cora-tests-")


_private_data_directory()


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
