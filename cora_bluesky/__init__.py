"""cora-bluesky: a system of record for Bluesky beamlines that can say no.

Importing this package is light: no database is opened and no network is touched until
:func:`connect` is called.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from cora_bluesky.application.ports import PermitSource
from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors
from cora_bluesky.domain.calibration import CalibrationSource
from cora_bluesky.gates.static import StaticPermits
from cora_bluesky.install import Cora, install

__all__ = ["CalibrationSource", "Cora", "Record", "StaticPermits", "connect", "errors", "install"]
__version__ = "0.1.0"


def connect(
    uri: str | None = None,
    *,
    permits: PermitSource | None = None,
    principal: str | None = None,
    clock: Callable[[], datetime] | None = None,
    catalog: Any = None,
) -> Record:
    """Open the record a URI names.

    Parameters
    ----------
    uri : str, optional
        ``sqlite:///path/to/record.db``; by default ``$CORA_URI``, else an SQLite file in the
        user's data directory.
    permits : PermitSource, optional
        Where hutch permits are read; with none, any run whose equipment sits in a hutch is
        refused (the gate fails closed).
    principal : str, optional
        Who acts; by default the operating-system user.
    clock : callable, optional
        Returns the current time as an aware datetime (tests pin it).
    catalog : optional
        The beamline's catalog of Bluesky runs, where :meth:`Record.open_data` and
        :meth:`Record.verify_run_data` read a Run's data: a Tiled node, a databroker v2 catalog
        or a Tiled address. By default each link is opened by its own URI when it is a Tiled
        address.

    Returns
    -------
    Record
    """
    from cora_bluesky.catalogs import UriCatalog, as_catalog
    from cora_bluesky.storage import default_uri, open_store

    store = open_store(uri or default_uri())
    options = {"clock": clock} if clock is not None else {}
    return Record(store, permits=permits, principal=principal, catalog=as_catalog(catalog) or UriCatalog(), **options)
