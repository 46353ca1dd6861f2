"""Builders shared by the tests: domain states for deciders and a small beamline in a record."""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

from typing import Any, Callable

from cora_bluesky.domain.clearance import ClearanceState, ClearanceStatus
from cora_bluesky.domain.equipment import AssetState, AssetStatus, EnclosureState
from cora_bluesky.domain.recipe import MethodState, PlanState, PlanStatus
from cora_bluesky.domain.run import StartRun, StartRunContext
from cora_bluesky.domain.subject import SubjectState, SubjectStatus
from cora_bluesky.domain.gates import Permit
from cora_bluesky.sim.pss import SimulatedPSS

#: Every store the contract suite runs against: name -> URI for a fresh record in a folder.
#: ``mongodb`` is the server ``CORA_TEST_MONGODB_URI`` names, else SecantusDB started for the session.
STORES = {
    "sqlite": lambda folder: f"sqlite:///{folder / 'record.db'}",
    "mongodb": lambda folder: fresh_mongodb_uri(),
}
#: mongomock, for the tests of the in-process stand-in itself.
MOCK_STORE = {"mongomock": lambda folder: f"mongomock://{uuid.uuid4().hex}/cora"}

_wire_server = None


def mongodb_server_uri() -> str:
    """``$CORA_TEST_MONGODB_URI``, else the session's wire-protocol server (started on first use)."""
    global _wire_server
    configured = os.environ.get("CORA_TEST_MONGODB_URI")
    if configured:
        return configured
    if _wire_server is None:
        from cora_bluesky.sim.wire_server import WireServer

        _wire_server = WireServer()
    return _wire_server.uri


def stop_wire_server() -> None:
    """Stop the session's server, if this session started one."""
    global _wire_server
    if _wire_server is not None:
        _wire_server.stop()
        _wire_server = None


def fresh_mongodb_uri() -> str:
    """A database of its own on the test server: a uuid, so no two tests or sessions share one."""
    parts = urlsplit(mongodb_server_uri())
    return urlunsplit(parts._replace(path=f"/cora_test_{uuid.uuid4().hex}"))


def drop_store(uri: str) -> None:
    """Drop a test's database on the MongoDB server; other stores clean up with their folder."""
    if not uri.startswith("mongodb"):
        return
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
    try:
        client.drop_database(client.get_default_database().name)
    finally:
        client.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 30, what: str = "the condition", *,
             interval: float = 0.01) -> Any:
    """Return the first truthy value of ``predicate()``, polled every ``interval`` seconds.

    Raises ``AssertionError`` naming ``what`` if none comes within ``timeout`` seconds: tests
    wait for what they need to see, never for a guessed time.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(interval)


NOW = datetime(2026, 5, 20, 14, 30, tzinfo=timezone.utc)


class Clock:
    """A clock the test moves; every reading advances it by a millisecond."""

    def __init__(self, start: datetime = NOW) -> None:
        self.current = start

    def __call__(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def asset(
    asset_id: str,
    family: str = "stage",
    *,
    parent: str | None = None,
    hutch: str | None = None,
    status: AssetStatus = AssetStatus.ACTIVE,
) -> AssetState:
    return AssetState(asset_id, asset_id, family, parent, hutch, (), status, NOW, NOW)


def enclosure(enclosure_id: str) -> EnclosureState:
    return EnclosureState(enclosure_id, enclosure_id.upper(), f"PV:{enclosure_id}", (), NOW, NOW)


def clearance(
    clearance_id: str = "c1",
    status: ClearanceStatus = ClearanceStatus.ACTIVE,
    *,
    runs: tuple[str, ...] = (),
    subjects: tuple[str, ...] = (),
    assets: tuple[str, ...] = (),
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    form_number: str | None = None,
) -> ClearanceState:
    return ClearanceState(
        clearance_id, "aps-esaf", "ESAF", (), runs, subjects, assets, valid_from, valid_until, status, NOW, NOW,
        form_number=form_number,
    )


METHOD = MethodState("m1", "tomography", None, ("stage",), NOW, NOW)
PLAN = PlanState("p1", "tomo_scan", "m1", {"exposure": 0.1}, ("a1",), PlanStatus.ACTIVE, NOW, NOW)
SUBJECT = SubjectState("s1", "sample", SubjectStatus.MOUNTED, NOW, NOW)


def start_command(**overrides) -> StartRun:
    fields = dict(run_id="r1", name="scan", plan_id="p1", subject_id="s1")
    fields.update(overrides)
    return StartRun(**fields)


def start_context(**overrides) -> StartRunContext:
    """A context in which ``start_command()`` passes every guard; override one to break it."""
    fields = dict(
        now=NOW,
        plan=PLAN,
        method=METHOD,
        subject=SUBJECT,
        assets={"a1": asset("a1", hutch="B")},
        parameter_check=None,
        clearances=(clearance(subjects=("s1",)),),
        enclosures={"B": enclosure("B")},
        permits={"B": Permit("B", True)},
    )
    fields.update(overrides)
    return StartRunContext(**fields)


TOMO_SCHEMA = {
    "type": "object",
    "properties": {
        "exposure": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
        "angles": {"type": "integer", "minimum": 1},
    },
    "required": ["exposure"],
}


#: the principal who reviews, approves and activates clearances in the tests
SAFETY_OFFICER = "safety-officer"
#: what the beamline staff a test acts as holds: it describes the beamline and runs scans
STAFF_ROLES = ("admin", "operator")


def staff(record, roles=STAFF_ROLES, **others):
    """Make the record's acting principal its first administrator (with ``roles``) and register
    the safety officer and any ``others`` (name -> roles). Harmless on a record already staffed."""
    from cora_bluesky.domain import errors as e

    try:
        record.bootstrap(roles=roles)
    except e.RecordAlreadyBootstrappedError:
        pass
    for name, held in {SAFETY_OFFICER: ("safety",), **others}.items():
        try:
            record.register_principal(principal_id=name, roles=held)
        except e.PrincipalAlreadyExistsError:
            pass
    return record


def build_beamline(record, *, activate: bool = True, pvs: dict | None = None) -> SimpleNamespace:
    """Two hutches, a stage in B on the experiment table, a camera, a method, a plan, a subject.

    The record's principal is staffed first (see :func:`staff`). With ``activate``, an Active
    clearance bound to the subject is in force, walked through review by the safety officer.
    ``pvs`` maps a hutch name to its ``(secured_pv, shutter_pvs)``.
    """
    staff(record)
    pvs = pvs or {
        "2-BM-A": ("PA:02BM:STA_A_SECURED", []),
        "2-BM-B": ("PA:02BM:STA_B_SECURED", ["PA:02BM:SHTR"]),
    }
    a = record.register_enclosure(name="2-BM-A", secured_pv=pvs["2-BM-A"][0], shutter_pvs=pvs["2-BM-A"][1])
    b = record.register_enclosure(name="2-BM-B", secured_pv=pvs["2-BM-B"][0], shutter_pvs=pvs["2-BM-B"][1])
    table = record.register_asset(name="experiment table", family="table", enclosure_id=b.id)
    stage = record.register_asset(name="rotation stage", family="rotation_stage", parent_id=table.id, device_names=["rot"])
    camera = record.register_asset(name="camera", family="camera", parent_id=table.id, device_names=["cam"])
    mono = record.register_asset(name="monochromator", family="mono", enclosure_id=a.id, device_names=["mono"])
    method = record.register_method(
        name="tomography", parameters_schema=TOMO_SCHEMA, needed_families=["rotation_stage", "camera"]
    )
    plan = record.register_plan(
        name="tomo_scan", method_id=method.id, default_parameters={"exposure": 0.1, "angles": 180},
        asset_ids=[stage.id, camera.id],
    )
    subject = record.register_subject(name="sn-2024-038")
    record.mount_subject(subject.id)
    ids = SimpleNamespace(
        hutch_a=a.id, hutch_b=b.id, table=table.id, stage=stage.id, camera=camera.id, mono=mono.id,
        method=method.id, plan=plan.id, subject=subject.id, clearance=None,
    )
    if activate:
        ids.clearance = activate_clearance(record, subject_ids=[subject.id]).id
    return ids


def acting_for(record, tool: str):
    """``record`` bound to whoever may perform ``tool``: the safety officer for review steps."""
    from cora_bluesky.application.slices import SLICES
    from cora_bluesky.domain.access import Duty

    (duty,) = {row.duty for row in SLICES if row.tool == tool}
    return record.bound(principal=SAFETY_OFFICER) if duty is Duty.REVIEW else record


def perform(record, tool: str, *args, **kwargs):
    """Call the Record method ``tool`` as the principal whose duty it is."""
    return getattr(acting_for(record, tool), tool)(*args, **kwargs)


def activate_clearance(record, **bindings):
    """A clearance filed and submitted by ``record``'s principal, put in force by the safety officer."""
    form = record.register_clearance(form_type="aps-esaf", title="ESAF 271828", **bindings)
    record.submit_clearance(form.id)
    officer = record.bound(principal=SAFETY_OFFICER)
    for step in (officer.start_clearance_review, officer.approve_clearance):
        step(form.id)
    return officer.activate_clearance(form.id)


#: For tests about recording rather than gating: their soft signals (ring current, sample
#: temperature, ...) sit in no hutch. Devices an asset answers to are still placed and gated.
SOFT_SIGNALS = ("*",)


class PSSIoc(SimulatedPSS):
    """The simulated PSS on this run's port, or on the spare one for a test that needs its own."""

    def __init__(self, *, spare_port: bool = False) -> None:
        super().__init__(port=int(os.environ["CORA_TEST_SPARE_CA_PORT"]) if spare_port else None)
