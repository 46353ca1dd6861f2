# Simulated 2-BM devices; their names are the device_names of the beamline model.
from cora_bluesky.sim.devices import build_devices as _build_devices

_devices = _build_devices(
    axis_offset=float(_os.environ.get("CORA_SIM_AXIS_OFFSET", "3.3")),
    time_scale=float(_os.environ.get("CORA_SIM_TIME_SCALE", "0")),
)
rotation = _devices.rotation
sample_x = _devices.sample_x
front_end_shutter = _devices.front_end_shutter
station_shutter = _devices.station_shutter
ring_current = _devices.ring_current
camera = _devices.camera

# Baseline readings at each run's start and end, and the ring current as a monitor stream.
from bluesky.preprocessors import SupplementalData as _SupplementalData

sd = _SupplementalData(baseline=[ring_current, front_end_shutter, station_shutter, sample_x], monitors=[ring_current])
RE.preprocessors.append(sd)
