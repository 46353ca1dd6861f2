"""Wiring cora-bluesky into a RunEngine: the composition root for the beamline side."""

from __future__ import annotations

import hashlib
import threading
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from cora_bluesky.application.ports import PermitSource
from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import Duty

_installed: "weakref.WeakKeyDictionary[Any, Cora]" = weakref.WeakKeyDictionary()
_install_lock = threading.Lock()


@dataclass
class Cora:
    """The handle :func:`install` returns: the record, the gate and the permit source in use."""

    RE: Any
    record: Record
    gate: Any
    permits: PermitSource | None
    recorder: Any = None
    suspenders: list = field(default_factory=list)

    def stop(self, reason: str) -> Any:
        """Stop the running or paused plan early on purpose, recording the operator's reason."""
        if self.recorder is not None and self.RE.state != "idle":  # no stop under way: no reason kept
            self.recorder.give_reason("stop", reason)
        return self.RE.stop()

    def abort(self, reason: str) -> Any:
        """Abort the running or paused plan, recording the operator's reason."""
        if self.recorder is not None and self.RE.state != "idle":
            self.recorder.give_reason("abort", reason)
        return self.RE.abort(reason)

    def adjust(self, patch, reason: str, decided_by: str | None = None):
        """Steer the open run from the console (for example while the RunEngine is paused)."""
        runs = self.gate.open_runs()
        if not runs:
            raise e.RunNotFoundError("no CORA run is open in this RunEngine")
        return self.record.adjust_run(runs[-1], parameter_patch=patch, reason=reason, decided_by_decision_id=decided_by)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the record has caught up with the RunEngine; ``False`` if still behind."""
        return True if self.recorder is None else self.recorder.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Record what is still queued, then stop recording (the gate stays installed)."""
        return True if self.recorder is None else self.recorder.close(timeout)

    def check_open_runs(self) -> None:
        """Re-run both start gates for every CORA run open in this RunEngine; raise if one fails."""
        for run_id in self.gate.open_runs():
            self.record.check_run_gates(run_id)

    def supervisor(self, signal, floor: float, *, resume_at: float | None = None, sleep: float = 0,
                   recheck: float = 1.0, say: Callable[[str], None] = print):
        """Hold the run when ``signal`` drops below ``floor``; resume only through the gates.

        Parameters
        ----------
        signal : ophyd.Signal
            The beam signal, for example the ring current.
        floor : float
            Suspend below this value.
        resume_at : float, optional
            Resume only above this value (defaults to ``floor``).
        sleep : float
            Seconds to wait after the beam and the gates are back, before resuming.
        recheck : float
            Seconds between re-checks of failing gates while the beam is back.

        Returns
        -------
        GatedSuspendFloor
            The installed suspender (``RE.remove_suspender`` takes it out).
        """
        from cora_bluesky.plans.supervisor import GatedSuspendFloor

        suspender = GatedSuspendFloor(
            signal, floor, resume_thresh=resume_at, checks=self.check_open_runs, recheck=recheck, say=say, sleep=sleep
        )
        self.RE.install_suspender(suspender)
        self.suspenders.append(suspender)
        return suspender


def default_spool(record: Record) -> Path:
    """A spool folder per record, in the user's data directory."""
    from platformdirs import user_data_dir

    identity = record.location
    return Path(user_data_dir("cora-bluesky")) / "spool" / hashlib.sha256(identity.encode()).hexdigest()[:16]


def install(RE, record: Record | str | None = None, *, permits: PermitSource | None = None,
            principal: str | None = None, spool: str | Path | None = None,
            dataset_uri: str = "bluesky://run/{uid}", catalog: Any = None, record_documents: bool = True,
            outside_hutches: Iterable[str] = (), gate_outside_runs: bool = False) -> Cora:
    """Wire cora-bluesky into a RunEngine and return its handle.

    Every run the RunEngine opens is first started in the record, behind both gates, and every
    device a message of an open run reaches must sit within the run's permitted scope; a manual
    ``RE.resume()`` re-runs the gates for the open runs; the recorder folds the documents, the
    RunEngine's states and its suspensions into the record. Nothing is written into any namespace.
    In IPython, a refusal is shown as the spec's name, the message and the fix in a few lines;
    ``%tb`` shows the traceback.

    Parameters
    ----------
    RE : bluesky.RunEngine
    record : Record or str, optional
        A record, or a URI to connect to (default: :func:`cora_bluesky.connect`'s default).
    permits : PermitSource, optional
        Where hutch permits are read (``cora_bluesky.gates.epics.EpicsPermits`` at a beamline).
    principal : str, optional
        Who acts, recorded as ``triggered_by`` and on every event: a registered principal
        holding the operator role (default: the record's principal).
    spool : str or Path, optional
        Folder of the recorder's durable spool (default: one per record in the user's data
        directory); each session writes its own locked file in it. Whatever a session that is
        gone spooled but did not record is replayed now.
    dataset_uri : str
        How a user resolves a Bluesky run from its start uid (``{uid}``), recorded on each Run
        as its dataset of record when no ``catalog`` is given (for example
        ``"http://tiled:8000/api/v1/metadata/raw/{uid}"``).
    catalog : optional
        The catalog the beamline writes its runs to: a Tiled client node (the one its
        ``TiledWriter`` writes to), a databroker v2 catalog, or a Tiled address. Each Run then
        links its Bluesky runs where that catalog resolves them, and the record reads them
        back there (``record.open_data``, ``cora runs verify``).
    record_documents : bool
        ``False`` when ``cora record --zmq`` folds the documents in another process: this
        RunEngine then only gates (its start documents still carry ``cora_run_id``). A remote
        recorder sees no RunEngine states: it cannot tell a stop from a completion, nor pauses.
    outside_hutches : iterable of str
        Device names or ``fnmatch`` patterns that sit in no hutch (soft, simulated or computed
        signals, the ring current); any other device the record cannot place is refused.
    gate_outside_runs : bool
        Also refuse moving, staging or configuring a device while no run is open (``RE(bps.mv(...))``,
        the staging a plan does before it opens its run) unless its hutches are permitted now.
        The spec gates runs only; a beamline may want motion gated too.

    Returns
    -------
    Cora

    Raises
    ------
    CoraAlreadyInstalledError
        If this RunEngine already has cora-bluesky installed.
    ForbiddenError
        If the acting principal is not registered or does not hold the operator role.
    """
    from cora_bluesky import connect
    from cora_bluesky.callbacks.recorder import CoraRecorder
    from cora_bluesky.catalogs import UriCatalog, as_catalog
    from cora_bluesky.callbacks.spool import Spool
    from cora_bluesky.plans.commands import CoraCommands
    from cora_bluesky.plans.gate import CoraGate

    with _install_lock:
        if RE in _installed:
            raise e.CoraAlreadyInstalledError(
                "cora-bluesky is already installed on this RunEngine; use the handle the first"
                " install() returned"
            )
        if record is None or isinstance(record, str):
            record = connect(record, permits=permits, principal=principal)
        else:
            overrides: dict[str, Any] = {}
            if permits is not None:
                overrides["permits"] = permits
            if principal is not None:
                overrides["principal"] = principal
            record = record.bound(**overrides) if overrides else record
        # the gate and the recorder act as this principal: it must be an operator, checked now
        # rather than at the first run (the record checks it again for every command)
        record.authorize(Duty.OPERATE)
        data = as_catalog(catalog)
        if data is not None:
            record = record.bound(catalog=data)
        links = data if data is not None else UriCatalog(dataset_uri)
        gate = CoraGate(record, RE, principal=principal, outside_hutches=outside_hutches,
                        outside_runs=gate_outside_runs)
        gate.attach(RE)
        states = ChainedHook(RE, "state_hook", gate.state_hook)
        gate.before_run.append(states.ensure)
        recorder = None
        if record_documents:
            recorder = CoraRecorder(record, dataset_uri=links.link, spool=Spool(spool or default_spool(record)))
            _see_first(RE, recorder)
            states.hooks.append(recorder.state_hook)
            gate.on_refusal.append(recorder.gate_refused)
            gate.before_run.append(ChainedHook(RE, "msg_hook", recorder.msg_hook).ensure)
        CoraCommands(record, gate).register(RE)
        cora = Cora(RE=RE, record=record, gate=gate, permits=record.permits, recorder=recorder)
        _gate_resume(RE, cora)
        _installed[RE] = cora
        from cora_bluesky.ipython import show_refusals_briefly

        show_refusals_briefly()  # in IPython only: a refusal reads as its name and fix, %tb has the rest
        return cora


class ChainedHook:
    """cora's hooks in ``RE.state_hook`` or ``RE.msg_hook``, single attributes a profile may reassign.

    Whatever was there before is called first. When a profile reassigns the attribute later
    (a common debugging line), :meth:`ensure` (called before every run) chains the newcomer in
    front of cora's hooks again and warns once, so recording never silently stops.
    """

    def __init__(self, RE, attribute: str, *hooks: Callable) -> None:
        self.RE, self.attribute, self.hooks = RE, attribute, list(hooks)
        self.previous = getattr(RE, attribute)
        self.warned = False
        setattr(RE, attribute, self)

    def __call__(self, *args) -> None:
        if self.previous is not None:
            self.previous(*args)
        for hook in self.hooks:
            hook(*args)

    def ensure(self) -> None:
        current = getattr(self.RE, self.attribute)
        if current is self:
            return
        self.previous = current
        setattr(self.RE, self.attribute, self)
        if not self.warned:
            self.warned = True
            warnings.warn(
                f"RE.{self.attribute} was reassigned after cora_bluesky.install(); cora chained the new"
                " hook in front of its own and keeps recording",
                RuntimeWarning,
                stacklevel=2,
            )


def _see_first(RE, callback: Callable) -> None:
    """Hand every document to ``callback`` before any subscriber: a subscriber that raises (with
    ``ignore_callback_exceptions=False``) cannot keep an emitted document from the record."""
    process = RE.dispatcher.process

    def process_first(name, doc):
        callback(name.name, doc)
        return process(name, doc)

    RE.dispatcher.process = process_first


def _gate_resume(RE, cora: Cora) -> None:
    """A manual resume of a paused run must pass the same gates as a fresh start."""
    resume = RE.resume

    def gated_resume(*args, **kwargs):
        for hook in cora.gate.before_run:
            hook()
        cora.check_open_runs()
        return resume(*args, **kwargs)

    gated_resume.__doc__ = resume.__doc__
    RE.resume = gated_resume
