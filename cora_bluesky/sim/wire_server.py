"""A throwaway MongoDB wire-protocol server on 127.0.0.1, for tests and benchmarks.

It runs SecantusDB (``pip install secantusdb``, in the ``test`` extra, never a runtime
dependency) in memory as a single-node replica set, with fail points enabled. The server is a
child process that the kernel ends when the process that started it dies, so a killed test
session cannot leave it running.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cora_bluesky.sim.child_server import ChildServer
from cora_bluesky.sim.loopback import free_port

#: Driver options for a test server: notice a recovered primary within half a second.
TEST_OPTIONS = "heartbeatFrequencyMS=500&serverSelectionTimeoutMS=10000"


def executable() -> str | None:
    """The ``secantusd-py`` launcher of this environment, if SecantusDB is installed."""
    beside = Path(sys.executable).with_name("secantusd-py")
    return str(beside) if beside.exists() else shutil.which("secantusd-py")


class WireServer(ChildServer):
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

    what = "secantusd-py"

    def __init__(self, *, standalone: bool = False, timeout: float = 60.0) -> None:
        launcher = executable()
        if launcher is None:
            raise RuntimeError("secantusd-py not found: pip install secantusdb (the test extra brings it)")
        self.port = free_port()
        command = [launcher, "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", ":memory:",
                   "--enable-test-commands", "--log-level", "ERROR"]
        if standalone:
            command.append("--standalone")
        self._spawn(command, tempfile.TemporaryFile(), stdin=subprocess.DEVNULL)
        self.uri = f"mongodb://127.0.0.1:{self.port}/?{TEST_OPTIONS}"
        self._wait(self._answers, timeout)

    def _answers(self) -> bool:
        import pymongo

        client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=500, directConnection=True)
        try:
            client.admin.command("ping")
            return True
        except pymongo.errors.PyMongoError:
            return False
        finally:
            client.close()

    def database_uri(self, name: str) -> str:
        """The server's URI with ``name`` as the database."""
        return self.uri.replace("/?", f"/{name}?", 1)
