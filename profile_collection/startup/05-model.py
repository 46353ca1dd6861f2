# The beamline model: hutches with their PSS PVs, equipment and where it sits, methods, plans.
import tomllib as _tomllib

from cora_bluesky.application.beamline import load_beamline as _load_beamline

with open(PROFILE_DIR / "beamline.toml", "rb") as _model:
    # describing the beamline is an administrator's duty: the loader acts as one, by name
    beamline_ids = _load_beamline(
        record.bound(principal=_os.environ.get("CORA_ADMIN") or record.principal), _tomllib.load(_model), substitutions={"pss": _os.environ["CORA_PSS_PREFIX"]}
    )
cora.gate.declare_outside_hutches(*beamline_ids["outside_hutches"])
