# The beamline model: hutches with their PSS PVs, equipment and where it sits, methods, plans.
# What the file changes since the record last saw it is recorded as named events and told here.
from cora_bluesky.application.beamline import load_beamline as _load_beamline
from cora_bluesky.application.beamline_model import read_model as _read_model

# describing the beamline is an administrator's duty: the loader acts as one, by name
beamline_ids = _load_beamline(
    record.bound(principal=_os.environ.get("CORA_ADMIN") or record.principal),
    _read_model(PROFILE_DIR / "beamline.toml", substitutions={"pss": _os.environ["CORA_PSS_PREFIX"]}),
    source="beamline.toml",
    say=lambda change: print(f"beamline model: {change}"),
)
cora.gate.declare_outside_hutches(*beamline_ids["outside_hutches"])
