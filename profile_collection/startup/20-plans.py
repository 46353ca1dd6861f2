# The beamline's plans, bound to its devices. Plain generator functions with simple parameters,
# as queueserver lists and validates them; helpers start with "_" so they are not listed.
from cora_bluesky.plans import tomography as _tomography


def dark_field(frames: int = None, md: dict = None):
    """Dark frames (station shutter closed): a Run with no subject."""
    yield from _tomography.dark_field(camera, station_shutter, frames=frames, md=md)


def flat_field(frames: int = None, md: dict = None):
    """Flat frames (sample out of the beam): a Run with no subject."""
    yield from _tomography.flat_field(camera, sample_x, frames=frames, md=md)


def find_rotation_center(md: dict = None):
    """Align the rotation axis from 0 and 180 degree projections: a Procedure leaving a calibration."""
    return (yield from _tomography.find_rotation_center(camera, rotation, md=md))


def tomo_scan(num_angles: int = None, exposure_time_ms: float = None, md: dict = None):
    """A tomography scan pinning the rotation center in force; pass subject_id in md or the call."""
    yield from _tomography.tomo_scan(camera, rotation, num_angles=num_angles, exposure_time_ms=exposure_time_ms, md=md)
