"""Simulated 2-BM devices: rotation and sample stages, shutters, ring current and a camera.

The camera's frames are projections of :mod:`~cora_bluesky.sim.phantom` at the rotation
stage's angle, seen through the shutters: dark when a shutter is closed, flat when the sample
is moved out of the beam, and scaled by the ring current.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device, Signal
from ophyd.sim import SynAxis
from ophyd.status import DeviceStatus

from cora_bluesky.gates.epics import SHUTTER_CLOSED, SHUTTER_OPEN
from cora_bluesky.sim.phantom import projection

#: Shutter polarity, as the PSS publishes it.
OPEN, CLOSED = SHUTTER_OPEN, SHUTTER_CLOSED
#: Where the sample stage takes the sample out of the beam for flat fields.
SAMPLE_OUT = 25.0


class PhantomCamera(Device):
    """A camera imaging the phantom in transmission; ``exposure_time`` is in milliseconds."""

    image = Cpt(Signal, value=np.zeros((1, 1)), kind="normal")
    exposure_time = Cpt(Signal, value=50.0, kind="config")
    #: seconds of wall time per millisecond of exposure (0: instantaneous frames)
    time_scale = Cpt(Signal, value=0.0, kind="omitted")

    def __init__(self, *args, rotation, sample_x, shutters, ring_current, axis_offset: float,
                 width: int = 96, rows: int = 4, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sources = (rotation, sample_x, shutters, ring_current)
        self.axis_offset = axis_offset
        self.width, self.rows = width, rows

    def frame(self) -> np.ndarray:
        rotation, sample_x, shutters, ring_current = self._sources
        if any(shutter.get() == CLOSED for shutter in shutters):
            return np.full((self.rows, self.width), 10.0)  # dark current
        beam = 1000.0 * max(ring_current.get(), 0.0) / 100.0 * self.exposure_time.get() / 50.0
        if abs(sample_x.position) >= SAMPLE_OUT / 2:
            return np.full((self.rows, self.width), 10.0 + beam)
        row = projection(rotation.position, self.width, self.axis_offset)
        return np.tile(10.0 + beam * np.exp(-0.02 * row), (self.rows, 1))

    def trigger(self) -> DeviceStatus:
        status = DeviceStatus(self)
        self.image.put(self.frame())
        wait = self.exposure_time.get() / 1000.0 * self.time_scale.get()
        if wait > 0:
            threading.Timer(wait, status.set_finished).start()
        else:
            status.set_finished()
        return status


def build_devices(*, axis_offset: float = 3.3, time_scale: float = 0.0) -> SimpleNamespace:
    """The 2-BM devices, named as the beamline model's ``device_names`` expect."""
    rotation = SynAxis(name="rotation")
    sample_x = SynAxis(name="sample_x")
    front_end_shutter = Signal(name="front_end_shutter", value=OPEN)
    station_shutter = Signal(name="station_shutter", value=OPEN)
    ring_current = Signal(name="ring_current", value=102.0)
    camera = PhantomCamera(
        name="camera", rotation=rotation, sample_x=sample_x, shutters=(front_end_shutter, station_shutter),
        ring_current=ring_current, axis_offset=axis_offset,
    )
    camera.time_scale.put(time_scale)
    return SimpleNamespace(
        rotation=rotation, sample_x=sample_x, front_end_shutter=front_end_shutter,
        station_shutter=station_shutter, ring_current=ring_current, camera=camera,
    )
