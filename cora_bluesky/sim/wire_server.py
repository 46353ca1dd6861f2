"""A throwaway MongoDB wire-protocol server on 127.0.0.1, for tests and benchmarks.

It runs SecantusDB (``pip install secantusdb``, in the ``test`` extra, never a runtime
dependency) in memory as a single-node replica set, with fail points enabled. The server is a
child process that the kernel ends when the process that started it dies, so a killed test
session cannot leave it running.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cora_bluesky.sim.loopback import free_port

#: Driver options for a test server: notice a recovered primary within half a second.
TEST_OPTIONS = "heartbeatFrequencyMS=500&serverSelectionTimeoutMS=10000"
_PR_SET_PDEATHSIG = 1


def _prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None  # not Linux: the fixture's teardown still stops the server


def _die_with_parent(prctl) -> None:  # pragma: no cover - runs in the child between fork and exec
    # looked up before the fork: the child only makes the call, it loads nothing
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def executable() -> str | None:
    """The ``secantusd-py`` launcher of this environment, if SecantusDB is installed."""
    beside = Path(sys.executable).with_name("secantusd-py")
    return str(beside) if beside.exists() else shutil.which("secantusd-py")


class WireServer:
    """SecantusDB on a free loopback port until :meth:`stop`.

    Parameters
    ----------
    standalone : bool
        Present a standalone server instead of a single-node replica set.
    timeout : float
        Seconds to wait for the server to answer.

    Attributes
    ----------
    uri : str
        ``mongodb://127.0.0.1:PORT/?...`` (no database: add one per test).
    pid : int
        The server's process id.
    """

    def __init__(self, *, standalone: bool = False, timeout: float = 60.0) -> None:
        launcher = executable()
        if launcher is None:
            raise RuntimeError("secantusd-py not found: pip install secantusdb (the test extra brings it)")
        self.port = free_port()
        command = [launcher, "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", ":memory:",
                   "--enable-test-commands", "--log-level", "ERROR"]
        if standalone:
            command.append("--standalone")
        self._log = tempfile.TemporaryFile()
        prctl = _prctl()
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            preexec_fn=lambda: _die_with_parent(prctl),
        )
        self.pid = self._process.pid
        self.uri = f"mongodb://127.0.0.1:{self.port}/?{TEST_OPTIONS}"
        try:
            self._wait(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float) -> None:
        import pymongo

        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"secantusd-py exited with {self._process.returncode}: {self._log.read()[-2000:]!r}")
            client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=500, directConnection=True)
            try:
                client.admin.command("ping")
                return
            except pymongo.errors.PyMongoError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"secantusd-py did not answer on port {self.port} in {timeout} s") from None
            finally:
                client.close()

    def database_uri(self, name: str) -> str:
        """The server's URI with ``name`` as the database."""
        return self.uri.replace("/?", f"/{name}?", 1)

    def stop(self) -> None:
        """End the server (by its process id) and wait for it."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def __enter__(self) -> "WireServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
