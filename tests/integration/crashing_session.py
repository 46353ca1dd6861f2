"""A RunEngine session that scans until it is killed: ``python crashing_session.py URI SPOOL``."""

import sys
import threading

from bluesky import RunEngine, SupplementalData
import bluesky.plans as bp
from ophyd import Signal
from ophyd.sim import SynAxis, SynGauss

import cora_bluesky
from crash_harness import warming

uri, spool = sys.argv[1], sys.argv[2]
record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
rot = SynAxis(name="rot")
cam = SynGauss("cam", rot, "rot", center=0, Imax=1)
temp = Signal(name="sample_temp", value=290.0)
RE = RunEngine({})
cora_bluesky.install(RE, record, spool=spool, outside_hutches=["sample_temp"])
RE.preprocessors.insert(0, SupplementalData(monitors=[temp]))
threading.Thread(target=warming, args=(temp, 0.02), daemon=True).start()
RE(bp.count([cam], num=100000, delay=0.02), subject_id=record.list_subjects().items[0].id)
