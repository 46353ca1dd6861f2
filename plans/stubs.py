"""Plan stubs that talk to the record from inside a plan (usable from queueserver too).

Steps travel as events of a dedicated stream, so anything reading the document stream sees
them; steering, parameters and calibrations are RunEngine commands answered at once by the
record, so a refusal raises inside the plan where it can be handled.

Where no record answers, the stubs degrade: in a simulator (``summarize_plan``, which answers
every message with ``None``) they go through the motions, and on a RunEngine without
cora-bluesky the steps are not recorded (the moves and reads still happen), while the stubs
that need the record to give an answer raise :class:`~cora_bluesky.errors.CoraNotInstalledError`.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import bluesky.plan_stubs as bps
from bluesky.utils import InvalidCommand, Msg

from cora_bluesky.domain import errors as e

#: The stream procedure steps are written to.
STEPS_STREAM = "cora_steps"

_step_device = None


def _steps_device():
    """One soft device carries each step into the stream (created on first use, not on import)."""
    global _step_device
    if _step_device is None:
        from ophyd import Component, Device, Signal

        class CoraStep(Device):
            step_kind = Component(Signal, value="", kind="normal")
            payload = Component(Signal, value="{}", kind="normal")

        _step_device = CoraStep(name="cora_step")
    return _step_device


def _ask(msg: Msg, *, needed: bool):
    """Send a cora command; ``(answered, response)``. Without cora on the RunEngine, refuse if the
    plan ``needed`` the answer, else carry on unrecorded."""
    try:
        return True, (yield msg)
    except InvalidCommand:
        if needed:
            raise e.CoraNotInstalledError(
                f"{msg.command}: cora-bluesky is not installed on this RunEngine, so nothing can answer;"
                " call cora_bluesky.install(RE, record) in the profile first"
            ) from None
        return False, None


def _step(kind: str, payload: Mapping[str, Any]):
    answered, _ = yield from _ask(Msg("cora_require_procedure", None), needed=False)
    if not answered:
        return  # nothing records steps on this RunEngine: the plan goes on without them
    device = _steps_device()
    device.step_kind.put(kind)
    device.payload.put(json.dumps(dict(payload), default=str, allow_nan=False))
    yield from bps.create(STEPS_STREAM)
    yield from bps.read(device)
    yield from bps.save()


def setpoint(obj, value: Any, **payload: Any):
    """Move ``obj`` to ``value`` and record the setpoint as a procedure step.

    Parameters
    ----------
    obj : Movable
        The device to move.
    value : Any
        The target.
    **payload
        Extra facts for the step (``units``, ``ramp_rate``, ...).
    """
    yield from bps.mv(obj, value)
    yield from _step("setpoint", {"channel": obj.name, "target_value": value, **payload})


def action(description: str, **payload: Any):
    """Record an action the procedure performed (for example "inserted the diffuser")."""
    yield from _step("action", {"description": description, **payload})


def check(obj, expected: float, tolerance: float):
    """Read ``obj``, compare with ``expected`` and record the check; returns whether it passed.

    Parameters
    ----------
    obj : Readable
        A device with one scalar reading.
    expected : float
    tolerance : float
        The largest accepted absolute difference.
    """
    actual = yield from bps.rd(obj)
    passed = actual is not None and abs(float(actual) - expected) <= tolerance
    yield from _step(
        "check",
        {"channel": obj.name, "expected": expected, "actual": actual, "tolerance": tolerance, "passed": passed},
    )
    return passed


def report_calibration(asset, quantity: str, value: float, units: str | None = None):
    """Record a calibration value of record, sourced from the running Procedure.

    Inside a Run this is refused: calibrations come from Procedures, never from Runs.

    Parameters
    ----------
    asset : str or ophyd device
        An asset id, or a device whose name an asset answers to.

    Returns
    -------
    str
        The new calibration revision's id.

    Raises
    ------
    CoraNotInstalledError
        On a RunEngine without cora-bluesky: a calibration of record is never dropped silently.
    """
    name = asset if isinstance(asset, str) else asset.name
    msg = Msg("cora_report_calibration", None, asset=name, quantity=quantity, value=value, units=units)
    return (yield from _ask(msg, needed=True))[1]


def adjust(patch: Mapping[str, Any], reason: str, decided_by: str | None = None):
    """Steer the open Run with an RFC 7396 merge patch; returns the new effective parameters.

    In a simulator, returns ``patch``.

    Raises
    ------
    CoraNotInstalledError
        On a RunEngine without cora-bluesky.
    """
    msg = Msg("cora_adjust", None, patch=dict(patch), reason=reason, decided_by=decided_by)
    answer = (yield from _ask(msg, needed=True))[1]
    return dict(patch) if answer is None else answer


def current_parameters(default: Mapping[str, Any] | None = None):
    """The open Run's effective parameters, including any steer since it started.

    Parameters
    ----------
    default : mapping, optional
        What to use where no record answers: in a simulator, and on a RunEngine without
        cora-bluesky. Without it, a simulator gets ``{}`` and such a RunEngine raises.

    Raises
    ------
    CoraNotInstalledError
        On a RunEngine without cora-bluesky, when no ``default`` is given.
    """
    answered, answer = yield from _ask(Msg("cora_parameters", None), needed=default is None)
    if answered and answer is not None:
        return answer
    return dict(default or {})
