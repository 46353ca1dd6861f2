"""A throwaway server as a child process: started, awaited until it answers, ended by its PID.

The kernel ends the child when the process that started it dies (Linux), so a killed test
session or benchmark cannot leave it running.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import time
from typing import IO, Any, Callable

_PR_SET_PDEATHSIG = 1


def _prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None  # not Linux: the owner's stop still ends the server


def _die_with_parent(prctl) -> None:  # pragma: no cover - runs in the child between fork and exec
    # looked up before the fork: the child only makes the call, it loads nothing
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildServer:
    """The process of a server until :meth:`stop`; subclasses say how it starts and answers.

    Attributes
    ----------
    pid : int
        The server's process id.
    """

    #: what the server is called in errors
    what = "the server"

    def _spawn(self, command: list[str], log: IO[bytes], **options: Any) -> None:
        prctl = _prctl()
        self._log = log
        self._process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: _die_with_parent(prctl), **options
        )
        self.pid = self._process.pid

    def _log_tail(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-2000:].decode(errors="replace")

    def _wait(self, answers: Callable[[], bool], timeout: float) -> None:
        """Poll ``answers`` until it is true; stop the server and raise if it exits or never does."""
        deadline = time.monotonic() + timeout
        try:
            while not answers():
                if self._process.poll() is not None:
                    raise RuntimeError(f"{self.what} exited with {self._process.returncode}: {self._log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.what} did not answer in {timeout} s: {self._log_tail()}")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def _end(self) -> None:
        """How the server is asked to end; it is killed if it has not within 20 s."""
        self._process.terminate()

    def stop(self) -> None:
        """End the server (by its process id) and wait for it."""
        if self._process.poll() is None:
            self._end()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
