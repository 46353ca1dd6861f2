"""A Tiled server for the tests on 127.0.0.1: a temporary catalog of Bluesky runs.

Run as ``python tiled_server.py DIRECTORY PORT [tiled|databroker]``: ``tiled`` serves a SQL
catalog that ``TiledWriter`` writes to, ``databroker`` a databroker v2 (MongoDB-normalized)
catalog over mongomock, written with ``post_document``. databroker's own ``temp()`` serves it
in-process through starlette's test client, which this starlette no longer pairs with tiled's
httpx; served over loopback it is the same catalog. The API key is ``$TILED_SINGLE_USER_API_KEY``.
It serves the json-seq exporter (``BlueskyRun.documents()``) and stops by itself when its
parent closes its standard input, so a test that dies leaves no server behind.
"""

from __future__ import annotations

import copy
import sys
import threading
from pathlib import Path


def build(directory: Path):
    from bluesky_tiled_plugins.exporters import json_seq_exporter
    from tiled.catalog import from_uri
    from tiled.media_type_registration import default_serialization_registry
    from tiled.server.app import build_app

    serialization = copy.copy(default_serialization_registry)
    serialization.register("BlueskyRun", "application/json-seq", json_seq_exporter)
    adapter = from_uri(
        f"sqlite:///{directory}/catalog.db",
        specs=[{"name": "CatalogOfBlueskyRuns", "version": "3.0"}],
        init_if_not_exists=True,
        writable_storage=[f"{directory}/data", f"sqlite:///{directory}/tables.db"],
    )
    return build_app(adapter, serialization_registry=serialization)


def build_databroker():
    from databroker.mongo_normalized import MongoAdapter
    from tiled.server.app import build_app

    return build_app(MongoAdapter.from_mongomock())


def main(directory: str, port: str, kind: str = "tiled") -> None:
    import uvicorn

    app = build(Path(directory)) if kind == "tiled" else build_databroker()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=int(port), log_level="warning"))

    def stop_with_parent() -> None:
        sys.stdin.read()  # returns when the parent closes the pipe or dies
        server.should_exit = True

    threading.Thread(target=stop_with_parent, daemon=True).start()
    server.run()


if __name__ == "__main__":
    main(*sys.argv[1:4])
