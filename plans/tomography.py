"""Tomography plans: reference frames and scans are Runs; the axis alignment is a Procedure.

Each plan takes its devices as arguments; a beamline profile binds them (see
``profile_collection/startup/20-plans.py``).
"""

from __future__ import annotations

from typing import Any, Mapping

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np

from cora_bluesky.gates.epics import SHUTTER_CLOSED, SHUTTER_OPEN
from cora_bluesky.plans.procedures import procedure_wrapper
from cora_bluesky.plans.stubs import current_parameters, report_calibration, setpoint

OPEN, CLOSED = SHUTTER_OPEN, SHUTTER_CLOSED

#: What the plans use where no record answers (a simulator such as ``summarize_plan``, or a
#: RunEngine without cora-bluesky); with a record, the CORA Plan's defaults apply.
UNRECORDED_DEFAULTS = {"frames": 5, "num_angles": 36, "exposure_time_ms": 50}


def _md(plan_name: str, devices: Mapping[str, list], md: Mapping[str, Any] | None, **extra: Any) -> dict:
    return {"plan_name": plan_name, **devices, **extra, **(md or {})}


def dark_field(camera, shutter, *, frames: int | None = None, md: Mapping[str, Any] | None = None):
    """Frames with the station shutter closed: a Run of record with no subject.

    Parameters
    ----------
    camera : PhantomCamera or any triggerable detector
    shutter : settable
        Closed (1) for the frames and opened (0) again afterwards, whatever happens.
    frames : int, optional
        Overrides the CORA Plan's ``frames``.
    """
    overrides = {} if frames is None else {"frames": frames}
    metadata = _md("dark_field", {"detectors": [camera.name]}, md, subject_id=None, cora_parameters=overrides)

    @bpp.run_decorator(md=metadata)
    def collect():
        parameters = yield from current_parameters({"frames": UNRECORDED_DEFAULTS["frames"], **overrides})
        yield from bps.mv(shutter, CLOSED)
        for _ in range(int(parameters["frames"])):
            yield from bps.trigger_and_read([camera])

    return (yield from bpp.finalize_wrapper(collect(), bps.mv(shutter, OPEN)))


def flat_field(camera, sample_stage, *, out_position: float = 25.0, frames: int | None = None,
               md: Mapping[str, Any] | None = None):
    """Frames with the sample moved out of the beam: a Run of record with no subject."""
    overrides = {} if frames is None else {"frames": frames}
    metadata = _md(
        "flat_field", {"detectors": [camera.name], "motors": [sample_stage.name]}, md, subject_id=None,
        cora_parameters=overrides,
    )

    @bpp.run_decorator(md=metadata)
    def collect():
        parameters = yield from current_parameters({"frames": UNRECORDED_DEFAULTS["frames"], **overrides})
        start = sample_stage.position
        yield from bps.mv(sample_stage, out_position)
        for _ in range(int(parameters["frames"])):
            yield from bps.trigger_and_read([camera])
        yield from bps.mv(sample_stage, start)

    return (yield from collect())


def find_rotation_center(camera, rotation, *, md: Mapping[str, Any] | None = None):
    """Estimate the rotation axis from projections 0 and 180 degrees apart: a Procedure.

    The frames only pass through; what the alignment leaves is ``rotation_center`` (the axis
    column on the detector, in pixels) as a calibration of the rotation stage, sourced from
    this Procedure. Returns the revision's id.
    """
    from cora_bluesky.sim.phantom import rotation_center

    @bpp.run_decorator(md=_md("find_rotation_center", {"detectors": [camera.name], "motors": [rotation.name]}, md))
    def align():
        rows = {}
        for angle in (0.0, 180.0):
            yield from setpoint(rotation, angle, units="deg")
            reading = yield from bps.trigger_and_read([camera])
            if reading:  # a simulator reads nothing
                rows[angle] = np.asarray(reading[f"{camera.name}_image"]["value"], dtype=float).mean(axis=0)
        center = rotation_center(rows[0.0], rows[180.0]) if len(rows) == 2 else 0.0
        yield from setpoint(rotation, 0.0, units="deg")
        return (yield from report_calibration(rotation, "rotation_center", round(center, 3), units="px"))

    return (
        yield from procedure_wrapper(
            align(), name="find rotation center", kind="alignment", target_devices=[rotation.name, camera.name]
        )
    )


def tomo_scan(camera, rotation, *, num_angles: int | None = None, exposure_time_ms: float | None = None,
              md: Mapping[str, Any] | None = None):
    """Projections over 180 degrees: a Run that pins the rotation center in force at its start.

    Exposure and angle count come from the Run's effective parameters; a steer (``cora.adjust``
    or the ``adjust`` stub) takes effect at the next angle. A suspension rewinds to the last
    angle's checkpoint.
    """
    overrides = {key: value for key, value in (("num_angles", num_angles), ("exposure_time_ms", exposure_time_ms))
                 if value is not None}
    metadata = _md(
        "tomo_scan", {"detectors": [camera.name], "motors": [rotation.name]}, md, cora_parameters=overrides
    )

    @bpp.run_decorator(md=metadata)
    def scan():
        fallback = {key: UNRECORDED_DEFAULTS[key] for key in ("num_angles", "exposure_time_ms")} | overrides
        parameters = yield from current_parameters(fallback)
        for angle in np.linspace(0.0, 180.0, int(parameters["num_angles"]), endpoint=False):
            parameters = yield from current_parameters(parameters)
            yield from bps.checkpoint()
            yield from bps.mv(camera.exposure_time, float(parameters["exposure_time_ms"]), rotation, float(angle))
            yield from bps.trigger_and_read([camera, rotation])

    return (yield from scan())
