"""Channel Access pinned to 127.0.0.1, for a simulated PSS that must not reach any network.

Call :func:`pin_epics_to_loopback` before ophyd (and with it caproto's client) is imported.
"""

from __future__ import annotations

import os
import socket


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def pin_epics_to_loopback(*, spare_port: int | None = None) -> dict[str, str]:
    """Point EPICS clients and servers of this process (and its children) at 127.0.0.1.

    Parameters
    ----------
    spare_port : int, optional
        A second server port clients also search, for a second IOC.

    Returns
    -------
    dict
        The variables set.
    """
    server_port = free_port()
    search = f"127.0.0.1 127.0.0.1:{spare_port}" if spare_port else "127.0.0.1"
    settings = {
        "EPICS_CA_ADDR_LIST": search,
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_SERVER_PORT": str(server_port),
        "EPICS_CA_REPEATER_PORT": str(free_port()),
        "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
        "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_CAS_SERVER_PORT": str(server_port),
        "OPHYD_CONTROL_LAYER": "caproto",
    }
    os.environ.update(settings)
    return settings
