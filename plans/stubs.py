"""Plan stubs that talk to the record from inside a plan (usable from queueserver too).

Steps travel as events of a dedicated stream, so anything reading the document stream sees
them; steering, parameters and calibrations are RunEngine commands answered at once by the
record, so a refusal raises inside the plan where it can be handled.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import bluesky.plan_stubs as bps
from bluesky.utils import Msg

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


def _step(kind: str, payload: Mapping[str, Any]):
    yield Msg("cora_require_procedure", None)
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
    """
    name = asset if isinstance(asset, str) else asset.name
    return (yield Msg("cora_report_calibration", None, asset=name, quantity=quantity, value=value, units=units))


def adjust(patch: Mapping[str, Any], reason: str, decided_by: str | None = None):
    """Steer the open Run with an RFC 7396 merge patch; returns the new effective parameters."""
    return (yield Msg("cora_adjust", None, patch=dict(patch), reason=reason, decided_by=decided_by))


def current_parameters():
    """The open Run's effective parameters, including any steer since it started."""
    return (yield Msg("cora_parameters", None))
