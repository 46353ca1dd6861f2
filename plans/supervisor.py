"""Gated resume: a beam-dump suspender whose resume re-earns the start gates."""

from __future__ import annotations

import threading
from typing import Callable

from bluesky.suspenders import SuspendFloor

from cora_bluesky.domain.errors import CoraError


class GatedSuspendFloor(SuspendFloor):
    """Suspend when a signal drops below a floor; resume only when it is back *and* the gates pass.

    Pausing can only make the floor calmer, so the suspension itself asks nothing. Resuming
    puts beam back on the sample, so it must pass the checks a fresh start passes: while they
    fail the run stays suspended, the reason is printed, and the checks are retried every
    ``recheck`` seconds.

    Parameters
    ----------
    signal : ophyd.Signal
        What the beamline watches, typically the ring current.
    suspend_thresh : float
        Suspend below this value.
    checks : callable
        Raises a :class:`~cora_bluesky.errors.CoraError` when an open run may not resume.
    resume_thresh : float, optional
        Resume only above this value (defaults to ``suspend_thresh``).
    recheck : float
        Seconds between retries of failing checks while the beam is back.
    say : callable
        Where the reason goes (the console by default).
    **kwargs
        Passed to :class:`bluesky.suspenders.SuspendFloor` (``sleep``, ``pre_plan``, ...).
    """

    def __init__(
        self,
        signal,
        suspend_thresh: float,
        *,
        checks: Callable[[], None],
        resume_thresh: float | None = None,
        recheck: float = 1.0,
        say: Callable[[str], None] = print,
        **kwargs,
    ) -> None:
        super().__init__(signal, suspend_thresh, resume_thresh=resume_thresh, **kwargs)
        self._checks = checks
        self._recheck = recheck
        self._say = say
        self._timer: threading.Timer | None = None
        self.refusal: CoraError | None = None

    def _should_resume(self, value) -> bool:
        if not super()._should_resume(value):
            return False
        try:
            self._checks()
        except Exception as failure:  # a check that cannot be made is a reason to stay put
            refusal = failure if isinstance(failure, CoraError) else CoraError(f"{type(failure).__name__}: {failure}")
            if self.refusal is None or refusal.message != self.refusal.message:
                self._say(f"Beam is back but the run stays suspended: {refusal.name}: {refusal.message}")
            self.refusal = refusal
            self._schedule_recheck()
            return False
        self.refusal = None
        return True

    def _schedule_recheck(self) -> None:
        if self._timer is not None and self._timer.is_alive():
            return
        self._timer = threading.Timer(self._recheck, self._retry)
        self._timer.daemon = True
        self._timer.start()

    def _retry(self) -> None:
        self._timer = None  # this timer is spent; a failing check schedules the next one
        if self.RE is not None and self.tripped:
            self(value=self._sig.get())

    def remove(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        super().remove()
