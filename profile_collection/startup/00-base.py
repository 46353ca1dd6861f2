# The RunEngine, the record and the gate. Settings come from the environment:
#   CORA_URI         the record (default: the user's embedded record)
#   CORA_PSS_PREFIX  PV prefix of the real PSS; without it a simulated PSS IOC is started on
#                    127.0.0.1 (and Channel Access is pinned there) for this session
#   CORA_SPOOL       the recorder's spool folder (default: one per record)
#   CORA_OPERATOR, CORA_PROPOSAL   who is at the beamline, for RE.md
#   CORA_PRINCIPAL   the principal this session acts as (default: the login name); it must hold
#                    the operator role. On a record that holds no principal yet, it becomes the
#                    record's first administrator (with the operator role too).
import atexit as _atexit
import os as _os
from pathlib import Path as _Path

PROFILE_DIR = _Path(__file__).resolve().parent.parent

if not _os.environ.get("CORA_PSS_PREFIX"):
    if "EPICS_CA_ADDR_LIST" not in _os.environ:
        from cora_bluesky.sim.loopback import pin_epics_to_loopback as _pin

        _pin()  # before ophyd is imported: the simulated PSS must not reach any network
    from cora_bluesky.sim.pss import SimulatedPSS as _SimulatedPSS

    _pss = _SimulatedPSS()
    _atexit.register(_pss.stop)
    _os.environ["CORA_PSS_PREFIX"] = _pss.prefix

from bluesky import RunEngine

import cora_bluesky
from cora_bluesky.gates.epics import EpicsPermits

RE = RunEngine({})
RE.md["operator"] = _os.environ.get("CORA_OPERATOR", "2-BM beamline staff")
RE.md["proposal_id"] = _os.environ.get("CORA_PROPOSAL", "GUP-81234")
from cora_bluesky.domain.errors import RecordAlreadyBootstrappedError as _Bootstrapped

record = cora_bluesky.connect(permits=EpicsPermits(), principal=_os.environ.get("CORA_PRINCIPAL") or None)
try:
    record.bootstrap(roles=["admin", "operator"])  # only on a record with no principal at all
except _Bootstrapped:
    pass
cora = cora_bluesky.install(RE, record, spool=_os.environ.get("CORA_SPOOL") or None)
