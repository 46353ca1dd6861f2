"""A throwaway Tiled server of Bluesky runs on 127.0.0.1, for tests and benchmarks.

``tiled`` serves a temporary SQL catalog that ``TiledWriter`` writes to; ``databroker`` serves a
databroker v2 (MongoDB-normalized) catalog over mongomock, written with ``post_document``
(databroker's own ``temp()`` serves it in-process through starlette's test client, which this
starlette no longer pairs with tiled's httpx; over loopback it is the same catalog). Both serve
the json-seq exporter behind ``BlueskyRun.documents()``. Needs the ``data`` extra.

The server is a child process that stops when its standard input closes and that the kernel
ends when the process that started it dies, so nothing is left running.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import threading
from pathlib import Path

from cora_bluesky.sim.child_server import ChildServer
from cora_bluesky.sim.loopback import free_port

#: The single-user API key the server takes.
API_KEY = "coratestkey"
KINDS = ("tiled", "databroker")


def build_app(directory: Path, kind: str):
    """The Tiled application serving a catalog of ``kind`` kept under ``directory``."""
    from tiled.server.app import build_app as tiled_app

    if kind == "databroker":
        from databroker.mongo_normalized import MongoAdapter

        return tiled_app(MongoAdapter.from_mongomock())
    from bluesky_tiled_plugins.exporters import json_seq_exporter
    from tiled.catalog import from_uri
    from tiled.media_type_registration import default_serialization_registry

    serialization = copy.copy(default_serialization_registry)
    serialization.register("BlueskyRun", "application/json-seq", json_seq_exporter)
    adapter = from_uri(
        f"sqlite:///{directory}/catalog.db",
        specs=[{"name": "CatalogOfBlueskyRuns", "version": "3.0"}],
        init_if_not_exists=True,
        writable_storage=[f"{directory}/data", f"sqlite:///{directory}/tables.db"],
    )
    return tiled_app(adapter, serialization_registry=serialization)


class CatalogServer(ChildServer):
    """A Tiled server of Bluesky runs on a free loopback port until :meth:`stop`.

    Parameters
    ----------
    directory : path
        Where a ``tiled`` catalog keeps its files, and the server its log.
    kind : {"tiled", "databroker"}
    port : int, optional
        The port to listen on (a free one by default): a server started again on the same
        directory and port answers the links made while the first ran.
    timeout : float
        Seconds to wait for the server to answer.

    Attributes
    ----------
    address : str
        ``http://127.0.0.1:PORT``; clients pass :data:`API_KEY`.
    pid : int
    """

    what = "the catalog server"

    def __init__(self, directory: Path, kind: str = "tiled", *, port: int | None = None, timeout: float = 60.0) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        port = port or free_port()
        self._spawn(
            [sys.executable, "-m", "cora_bluesky.sim.catalog_server", str(directory), str(port), kind],
            open(Path(directory) / "server.log", "a+b"),
            stdin=subprocess.PIPE, env={**os.environ, "TILED_SINGLE_USER_API_KEY": API_KEY},
        )
        self.address = f"http://127.0.0.1:{port}"
        self._wait(self._answers, timeout)

    def _answers(self) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.address}/api/v1/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def _end(self) -> None:
        self._process.stdin.close()  # it stops by itself when its input closes


def main(directory: str, port: str, kind: str = "tiled") -> None:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(build_app(Path(directory), kind), host="127.0.0.1", port=int(port),
                                           log_level="warning"))

    def stop_with_parent() -> None:
        sys.stdin.read()  # returns when the parent closes the pipe or dies
        server.should_exit = True

    threading.Thread(target=stop_with_parent, daemon=True).start()
    server.run()


if __name__ == "__main__":
    main(*sys.argv[1:4])
