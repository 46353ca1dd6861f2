"""The start gate: every run the RunEngine opens is started in the record first, on all it touches.

The gate sits in the RunEngine's command registry, not in its preprocessors: every ``open_run``
the RunEngine executes reaches it, whatever the order of preprocessors, a reassigned
``RE.preprocessors`` or a suspender's pre/post plan. It decides on the metadata the start
document will carry. While a run is open, every message that acts on or reads a device passes
it too: a device the record cannot place is refused, and a device from a hutch outside the
run's scope joins the run only if that hutch is permitted now. A refusal is raised into the
plan before the message reaches the device, and the run closes as failed with the refusal as
its reason.
"""

from __future__ import annotations

import copy
import fnmatch
import threading
import warnings
from collections import ChainMap
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from cora_bluesky.domain import errors as e
from cora_bluesky.domain.documents import named_devices, names
from cora_bluesky.domain.rules import REASON_LENGTH, RUN_NAME
from cora_bluesky.plans import stubs
from cora_bluesky.plans.procedures import PROCEDURE_KEY, ProcedureDeclaration, issued

#: Keys only the gate and ``procedure_wrapper`` write; user metadata carrying them is refused.
RESERVED_KEYS = frozenset({"cora_run_id", "cora_procedure_id", PROCEDURE_KEY})

#: Commands that act on or read a device. Stopping, unstaging and unsubscribing are never
#: refused: they only ever take a device back to rest.
DEVICE_COMMANDS = (
    "set", "trigger", "read", "locate", "kickoff", "complete", "collect", "stage", "configure", "prepare", "monitor",
    "declare_stream",
)
#: Of those, the ones that change a device: gated outside runs too when the beamline asks.
MOVING_COMMANDS = frozenset({"set", "kickoff", "stage", "configure", "prepare"})
#: Of those, the ones whose further arguments are devices too (``Msg('locate', *devices)``).
MANY_DEVICE_COMMANDS = frozenset({"locate", "collect", "declare_stream"})

#: Metadata keys that name upstream concepts, and the external-reference scheme each becomes.
EXTERNAL_REF_KEYS = {
    "proposal_id": "proposal",
    "proposal": "proposal",
    "esaf_id": "esaf",
    "esaf": "esaf",
    "safety_form": "safety_form",
    "data_session": "data_session",
    "beamtime_id": "beamtime",
}


def _enclosing_names(name: str) -> list[str]:
    """``tomo_stage_x`` -> ``tomo_stage_x, tomo_stage, tomo``: ophyd joins with ``_``, ophyd-async with ``-``."""
    names = [name]
    for position in range(len(name) - 1, 0, -1):
        if name[position] in "_-":
            names.append(name[:position])
    return names


def _lineage(device: Any) -> list[Any]:
    """The device and its parents, nearest first (ophyd ``parent``; ophyd-async ``parent``)."""
    chain, seen = [], set()
    while device is not None and id(device) not in seen:
        seen.add(id(device))
        chain.append(device)
        device = getattr(device, "parent", None)
    return chain


def _descendant_names(device: Any) -> list[str]:
    """Names of the device's components, all levels down, without connecting any lazy one."""
    walk = getattr(device, "walk_components", None)
    name = _name(device)
    if callable(walk) and name:  # ophyd: a component is named <parent>_<attribute>
        return [f"{name}_{part.dotted_name.replace('.', '_')}" for part in walk()]
    children = getattr(device, "children", None)
    if not callable(children):
        return []
    found, pending = [], [device]  # ophyd-async: children() yields (attribute, device)
    while pending:
        for _, child in pending.pop().children():
            if _name(child):
                found.append(child.name)
            pending.append(child)
    return found


def _name(device: Any) -> str | None:
    name = getattr(device, "name", None)
    return name if isinstance(name, str) and name else None


@dataclass
class _OpenRun:
    """A CORA run or procedure open in the RunEngine, and what it was admitted to touch."""

    kind: str
    ident: str
    #: Assets already within the run's scope (bound at its start or joined since).
    assets: set[str] = field(default_factory=set)
    refusal: e.CoraError | None = None


class CoraGate:
    """Start every run the RunEngine opens in the record first, and keep it within its scope.

    A callable class that lives across runs, like ``SupplementalData``: it knows which CORA
    runs are open, so a procedure opened inside a run is a phase of it.

    Parameters
    ----------
    record : cora_bluesky.Record
        The record to start runs in.
    RE : RunEngine, optional
        Held so that ``RE.md`` and per-call metadata (where queueserver item meta lands) are
        merged as the RunEngine itself merges them.
    principal : str, optional
        Recorded as ``triggered_by``; else the ``operator`` metadata, else the record's principal.
    outside_hutches : iterable of str
        Names or ``fnmatch`` patterns of devices that sit in no hutch (soft signals, simulated
        or computed devices): they add nothing to a run's scope.
    outside_runs : bool
        Also refuse a message that changes a device (set, stage, configure, kickoff, prepare)
        while no run is open, unless every hutch the device sits in is permitted now. The
        spec gates runs only; this is the beamline's choice.
    """

    def __init__(self, record, RE=None, *, principal: str | None = None, outside_hutches: Iterable[str] = (),
                 outside_runs: bool = False) -> None:
        self.record = record
        self.outside_runs = outside_runs
        self.RE = RE
        self.principal = principal
        self.outside_hutches: list[str] = []
        self.declare_outside_hutches(*outside_hutches)
        #: Called before every run is decided (install() keeps the RunEngine's hooks chained).
        self.before_run: list[Callable[[], None]] = []
        #: Called with (CORA id, refusal text) when a device refused mid-run ends that run (the
        #: recorder ends it Aborted, however the RunEngine closes it).
        self.on_refusal: list[Callable[[str, str], None]] = []
        self._lock = threading.Lock()
        self._open: dict[Any, _OpenRun] = {}  # run key -> run, in opening order
        #: id -> device admitted to every open run; cleared whenever a run opens
        self._admitted: dict[int, Any] = {}
        self._handlers: dict[str, Callable] = {}  # the RunEngine's own
        self._gated: dict[str, Callable] = {}  # the gate's, in front of them

    def declare_outside_hutches(self, *patterns: str) -> None:
        """Declare devices (names or ``fnmatch`` patterns) that sit outside every hutch."""
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern.strip():
                raise e.InvalidInputError("a device outside every hutch is named by a non-blank name or pattern")
            self.outside_hutches.append(pattern)

    def attach(self, RE) -> None:
        """Put the gate in front of ``open_run``, ``close_run`` and every device command of ``RE``."""
        self.RE = RE
        registry = RE._command_registry  # the RunEngine's own handlers, wrapped rather than copied
        self._handlers = {name: registry[name] for name in ("open_run", "close_run", *DEVICE_COMMANDS)}
        self._gated = {"open_run": self._open_run, "close_run": self._close_run}
        self._gated.update(
            (name, self._guarded(self._handlers[name], many=name in MANY_DEVICE_COMMANDS,
                                 moving=self.outside_runs and name in MOVING_COMMANDS))
            for name in DEVICE_COMMANDS
        )
        for name, handler in self._gated.items():
            RE.register_command(name, handler)

    def ensure_attached(self) -> None:
        """Put the gate back in front of any command someone registered over it, and warn."""
        if self.RE is None or not self._gated:
            return
        replaced = [name for name, handler in self._gated.items() if self.RE._command_registry.get(name) != handler]
        for name in replaced:
            self.RE.register_command(name, self._gated[name])
        if replaced:
            warnings.warn(
                f"RE.register_command replaced cora's gate for {', '.join(replaced)}; the gate is back in"
                " front of the RunEngine's own handlers and the replacement is not used",
                RuntimeWarning,
                stacklevel=2,
            )

    # --- bookkeeping of open runs ---------------------------------------------------------

    def state_hook(self, new: str, old: str) -> None:
        """An idle RunEngine has no run open, however its runs ended (an abort or a halt closes
        them without ``close_run``); a starting one is gated."""
        if new == "running" and old == "idle":
            self.ensure_attached()
        if new == "idle":
            with self._lock:
                self._open.clear()
                self._admitted.clear()

    def innermost(self) -> tuple[str, str] | None:
        """``(kind, CORA id)`` of the innermost open run or procedure, if any."""
        with self._lock:
            run = next(reversed(self._open.values()), None)
        return None if run is None else (run.kind, run.ident)

    def open_runs(self) -> list[str]:
        """CORA ids of the runs (not procedures) open in this RunEngine, outermost first."""
        with self._lock:
            return [run.ident for run in self._open.values() if run.kind == "run"]

    # --- open_run and close_run -------------------------------------------------------------

    def final_metadata(self, msg) -> dict[str, Any]:
        """The metadata the start document will carry, merged as ``RunEngine._open_run`` merges it."""
        if self.RE is None:
            return dict(msg.kwargs)
        plan = getattr(self.RE, "_plan", None)
        return dict(
            ChainMap(
                getattr(self.RE, "_metadata_per_call", {}),
                msg.kwargs,
                {"plan_type": type(plan).__name__, "plan_name": getattr(plan, "__name__", "")},
                self.RE.md,
            )
        )

    async def _open_run(self, msg):
        """Open a run: cora starts it in the record first (behind both gates), or refuses it."""
        for hook in self.before_run:
            hook()
        md = self.final_metadata(msg)
        wrapped = issued(msg.kwargs.get(PROCEDURE_KEY))  # by identity, before any copy
        if self.RE is not None:
            # the RunEngine's own checks first (a refusal there writes nothing), then decide on
            # the metadata exactly as the start document will carry it
            self.RE.md_validator(dict(md))
            md = self.RE.md_normalizer(copy.deepcopy(md))
        kind, ident, assets = self.start(md, user_keys=self.user_keys(), wrapped=wrapped)
        kwargs = {**msg.kwargs, f"cora_{kind}_id": ident}
        if isinstance(kwargs.get(PROCEDURE_KEY), ProcedureDeclaration):
            kwargs[PROCEDURE_KEY] = dict(kwargs[PROCEDURE_KEY])  # a plain mapping in the document
        already_open = self._started_in_engine(msg.run)  # a run under the same key: the RunEngine refuses
        try:
            uid = await self._handlers["open_run"](msg._replace(kwargs=kwargs))
        except BaseException as failure:
            started = self._started_in_engine(msg.run)
            if started is None or started == already_open:
                self._close_unopened(kind, ident, failure)
            else:  # a callback raised after the start document was out: the run is open
                self._opened(msg.run, _OpenRun(kind, ident, set(assets)))
            raise
        self._opened(msg.run, _OpenRun(kind, ident, set(assets)))
        return uid

    def _opened(self, key: Any, run: _OpenRun) -> None:
        with self._lock:
            self._open[key] = run
            self._admitted.clear()

    def _started_in_engine(self, key: Any) -> str | None:
        """The start uid if the RunEngine opened the run under ``key`` (its start document is out)."""
        bundler = getattr(self.RE, "_run_bundlers", {}).get(key)
        return bundler._run_start_uid if bundler is not None and bundler.run_is_open else None

    async def _close_run(self, msg):
        """Close a run; a run a refused device ended says so in its stop document."""
        run = self._open.get(msg.run)
        if run is not None and run.refusal is not None:
            # the plan may have caught the refusal: the stop document still says what happened
            msg = msg._replace(kwargs={**msg.kwargs, "exit_status": "fail", "reason": str(run.refusal)[:REASON_LENGTH]})
        try:
            return await self._handlers["close_run"](msg)
        finally:
            if self._started_in_engine(msg.run) is None:  # closed, even if a stop callback raised
                with self._lock:
                    self._open.pop(msg.run, None)

    def user_keys(self) -> set[str]:
        """Keys of the metadata users set: ``RE.md`` and the call's (where queue item meta lands)."""
        if self.RE is None:
            return set()
        return set(self.RE.md) | set(getattr(self.RE, "_metadata_per_call", {}))

    def start(self, md: Mapping[str, Any], *, user_keys: Iterable[str] = (),
              wrapped: bool | None = None) -> tuple[str, str, list[str]]:
        """Start the run ``md`` describes in the record, or raise the refusal.

        Parameters
        ----------
        md : mapping
            The final metadata of the run.
        user_keys : iterable of str
            Keys of ``md`` that users set rather than the plan: none may be reserved.
        wrapped : bool, optional
            Whether the plan's procedure declaration is one ``procedure_wrapper`` made (by
            default, ``md``'s own declaration is checked).

        Returns
        -------
        (kind, CORA id, asset ids in scope)
        """
        declared = md.get(PROCEDURE_KEY)
        forged = set(RESERVED_KEYS & set(user_keys)) | ((RESERVED_KEYS - {PROCEDURE_KEY}) & md.keys())
        genuine = issued(declared) if wrapped is None else wrapped
        if declared is not None and not (genuine and isinstance(declared, ProcedureDeclaration)):
            forged.add(PROCEDURE_KEY)
        if forged:
            keys = sorted(forged)
            raise e.ReservedMetadataError(
                f"{', '.join(keys)} may not come from metadata: the gate writes the ids, and only"
                " procedure_wrapper(plan, ...) declares a Procedure; remove them from RE.md, the call,"
                " the plan's md or the queue item",
                keys=keys,
            )
        if declared is not None:
            return self._start_procedure(declared, md)
        return self._start_run(md)

    def called_plan_name(self) -> str | None:
        """The name of the plan the user called (``RE(tomo_scan())``: ``tomo_scan``), if known."""
        name = getattr(getattr(self.RE, "_plan", None), "__name__", None)
        return name if isinstance(name, str) and name.isidentifier() else None

    def _plan(self, md: Mapping[str, Any]) -> tuple[str, str]:
        """``(plan id, name the run is recorded under)``.

        The plan the user called is looked up first, so a profile plan wrapping a built-in
        (``tomo_scan`` around ``bp.count``) runs under its own CORA Plan when it has one; then
        the start document's ``plan_name``, by name or by a plan's ``bluesky_names``.
        """
        plan_name = md.get("plan_name") if isinstance(md.get("plan_name"), str) else None
        if md.get("cora_plan_id"):
            return str(md["cora_plan_id"]), plan_name or "bluesky run"
        called = self.called_plan_name()
        candidates = [name for name in dict.fromkeys([called, plan_name]) if name]
        for name in candidates:
            plan = self.record.resolve_plan(name)
            if plan is not None:
                return plan.id, name
        asked = " nor ".join(
            f"{name!r} ({'the plan called' if name == called else 'the start document plan_name'})"
            for name in candidates
        ) or "no plan name at all"
        named = candidates[0] if candidates else "my_plan"
        raise e.PlanNotFoundError(
            f"no CORA plan answers to {asked}. Fix it one of these ways: add a [[plans]] entry named"
            f" {named!r} to the beamline model and run `cora model apply`; add {candidates[-1] if candidates else named!r}"
            " (or a pattern such as '*_scan') to the bluesky_names of an existing plan;"
            f" record.register_plan(name={named!r}, method_id=...); or pass cora_plan_id=... in the run's metadata",
            names=candidates,
        )

    def _answering(self, names: list[str]) -> dict[str, list[str]]:
        """Device name -> every asset answering to it (all of them count: fail closed)."""
        answering: dict[str, list[str]] = {}
        for asset in self.record.assets_for_devices(names) if names else ():
            for device in asset.device_names:
                answering.setdefault(device, []).append(asset.id)
        return answering

    def _place_names(self, names: Iterable[str]) -> list[str]:
        """Asset ids for device names from the metadata; an unplaceable name is refused."""
        candidates = {name: _enclosing_names(name) for name in dict.fromkeys(names)}
        answering = self._answering([c for chain in candidates.values() for c in chain])
        found, unknown = [], []
        for name, chain in candidates.items():
            assets = next((answering[c] for c in chain if c in answering), None)
            if assets is not None:
                found += assets
            elif not self._outside(chain):
                unknown.append(name)
        if unknown:
            raise self._unknown(unknown)
        return list(dict.fromkeys(found))

    def _named_and_staged(self, md: Mapping[str, Any]) -> list[str]:
        """Assets of the devices the start document names, and of the devices the plan staged
        before opening the run (placed as objects, exactly, which names alone cannot be)."""
        staged = [asset for device in list(getattr(self.RE, "_staged", ())) for asset in self._place_device(device)]
        named = self._place_names(named_devices(md))
        return list(dict.fromkeys([*named, *staged]))

    def _outside(self, names: Iterable[str]) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for name in names for pattern in self.outside_hutches)

    def _unknown(self, devices: list[str]) -> e.RunRequiresKnownDevicesError:
        return e.RunRequiresKnownDevicesError(
            f"the record cannot place device(s) {', '.join(devices)}: no asset answers to them or to"
            " a device they belong to; add their names to an asset's device_names in the beamline"
            " model, or declare them under outside_hutches if they sit in no hutch",
            devices=devices,
        )

    def _start_run(self, md: Mapping[str, Any]) -> tuple[str, str, list[str]]:
        plan_id, plan_name = self._plan(md)
        devices = self._named_and_staged(md)
        run = self.record.start_run(
            name=str(md.get("cora_run_name") or plan_name)[:RUN_NAME.high],
            plan_id=plan_id,
            subject_id=md.get("subject_id"),
            override_parameters=md.get("cora_parameters") or {},
            asset_ids=list(dict.fromkeys([*names(md.get("cora_asset_ids")), *devices])),
            triggered_by=self.principal or md.get("operator") or self.record.principal,
            external_refs=[
                (scheme, str(md[key]))
                for key, scheme in EXTERNAL_REF_KEYS.items()
                if isinstance(md.get(key), (str, int)) and not isinstance(md.get(key), bool) and str(md[key]).strip()
            ],
        )
        return "run", run.id, list(run.asset_ids)

    def _start_procedure(self, declared: Mapping[str, Any], md: Mapping[str, Any]) -> tuple[str, str, list[str]]:
        targets = list(dict.fromkeys([
            *names(declared.get("target_asset_ids")),
            *self._place_names(names(declared.get("target_devices"))),
        ]))
        devices = self._named_and_staged(md)
        # the Procedure has no clearance gate, but people in an unsecured hutch are never moved around
        self.record.check_equipment_permits([*targets, *devices])
        open_runs = self.open_runs()
        procedure = self.record.start_new_procedure(
            name=declared.get("name"),
            kind=declared.get("kind"),
            target_asset_ids=targets,
            parent_run_id=open_runs[-1] if open_runs else None,
        )
        return "procedure", procedure.id, list(dict.fromkeys([*targets, *devices]))

    def _close_unopened(self, kind: str, ident: str, failure: BaseException) -> None:
        """The RunEngine failed to open a run the record started: close it honestly."""
        reason = f"the RunEngine did not open the run: {type(failure).__name__}: {failure}"[:REASON_LENGTH]
        try:
            if kind == "run":
                self.record.abort_run(ident, reason=reason)
            else:
                self.record.abort_procedure(ident, reason=reason)
        except e.CoraError:
            pass  # the original failure is what the caller needs to see

    # --- devices reached while a run is open ------------------------------------------------

    def _guarded(self, handler, *, many: bool = False, moving: bool = False):
        admitted, open_runs = self._admitted, self._open
        if many:
            async def guarded(msg):
                if open_runs:
                    for device in (msg.obj, *msg.args):
                        if device is not None and id(device) not in admitted:
                            self.admit(device)
                return await handler(msg)
        else:
            async def guarded(msg):
                # the common case costs two lookups: nothing open, or a device already admitted
                if open_runs:
                    if msg.obj is not None and id(msg.obj) not in admitted:
                        self.admit(msg.obj)
                elif moving and msg.obj is not None:
                    self.record.check_equipment_permits(self._place_device(msg.obj))
                return await handler(msg)

        guarded.__doc__ = handler.__doc__
        return guarded

    def admit(self, device: Any) -> None:
        """Let ``device`` act within every open run, or raise the refusal into the plan."""
        try:
            assets = self._place_device(device)
            with self._lock:
                runs = list(self._open.values())
            for run in runs:
                joining = [asset for asset in assets if asset not in run.assets]
                if not joining:
                    continue
                if run.kind == "run":
                    self.record.join_run_assets(run.ident, asset_ids=joining, devices=[_name(device) or repr(device)])
                else:
                    self.record.check_equipment_permits([*run.assets, *joining])
                run.assets.update(joining)
        except e.CoraError as refusal:
            with self._lock:
                ending = [run for run in self._open.values() if run.refusal is None]
                for run in ending:
                    run.refusal = refusal
            for run in ending:
                for hook in self.on_refusal:
                    hook(run.ident, str(refusal)[:REASON_LENGTH])
            raise
        self._admitted[id(device)] = device

    def _place_device(self, device: Any) -> list[str]:
        """Every asset the device acts on: its nearest known ancestor's and its known descendants'.

        A message to a device reaches its components, so a component an asset answers to counts
        even when the device itself is outside every hutch. None if the device is declared
        outside every hutch and nothing it holds is known.
        """
        lineage = _lineage(device)
        if any(part is stubs._step_device for part in lineage):
            return []  # cora's own soft device, carrying procedure steps into their stream
        names = [name for name in map(_name, lineage) if name]
        below = _descendant_names(device)
        answering = self._answering(names + below)
        found = next((answering[name] for name in names if name in answering), [])
        found = list(dict.fromkeys([*found, *(asset for name in below for asset in answering.get(name, ()))]))
        if found or self._outside(names):
            return found
        raise self._unknown(names[:1] or [repr(device)])
