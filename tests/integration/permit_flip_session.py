"""A fresh beamline process for the permit-flip test: ``python permit_flip_session.py URI PV``.

It connects the gate's permit source to the secured PV (reading it once, as permitted), says
``READY``, waits for ``GO`` on stdin, then tries to start a run and says ``STARTED`` or
``REFUSED <name>``.
"""

import sys

import bluesky.plans as bp
from bluesky import RunEngine
from ophyd.sim import SynAxis

import cora_bluesky
from cora_bluesky.domain.errors import CoraError
from cora_bluesky.gates.epics import EpicsPermits

uri, secured_pv = sys.argv[1], sys.argv[2]
permits = EpicsPermits(timeout=2.0)
record = cora_bluesky.connect(uri, permits=permits)
RE = RunEngine({}, call_returns_result=False)
cora = cora_bluesky.install(RE, record, record_documents=False)
value, problem = permits.read(secured_pv)  # the gate's first connection
print("READY" if value == 1 and problem is None else f"NOT-READY {value} {problem}", flush=True)
sys.stdin.readline()
try:
    RE(bp.count([SynAxis(name="rot")]))
    print("STARTED", flush=True)
except CoraError as refusal:
    print(f"REFUSED {refusal.name}", flush=True)
