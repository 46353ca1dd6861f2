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
import time
from pathlib import Path

from cora_bluesky.sim.loopback import free_port
from cora_bluesky.sim.wire_server import _die_with_parent, _prctl

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


class CatalogServer:
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

    def __init__(self, directory: Path, kind: str = "tiled", *, port: int | None = None, timeout: float = 60.0) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.log_path = Path(directory) / "server.log"
        self._log = open(self.log_path, "ab")
        port = port or free_port()
        prctl = _prctl()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "cora_bluesky.sim.catalog_server", str(directory), str(port), kind],
            stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "TILED_SINGLE_USER_API_KEY": API_KEY},
            preexec_fn=lambda: _die_with_parent(prctl),
        )
        self.pid = self._process.pid
        self.address = f"http://127.0.0.1:{port}"
        try:
            self._wait(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"the catalog server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.address}/api/v1/", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the catalog server did not answer in {timeout} s: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Close its input (it stops by itself), then end it by its process id if it lingers."""
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def __enter__(self) -> "CatalogServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
