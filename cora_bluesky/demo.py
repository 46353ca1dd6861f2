"""A scripted session at the simulated 2-BM tomography beamline, told through the record.

The session runs the beamline profile (``profile_collection/startup``) as IPython would, with
a simulated PSS IOC on loopback, and drives real plans through a real RunEngine.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from cora_bluesky.application.ports import every
from cora_bluesky.domain import errors as e
from cora_bluesky.sim.profile import run_startup

Say = Callable[[str], None]
#: the principal who reviews and approves safety forms in the story
SAFETY_OFFICER = "safety-officer"


def run_demo(uri: str, startup_dir: str | Path, say: Say = print) -> dict[str, Any]:
    """Tell the story end to end on the record at ``uri``; returns the ids it created."""
    os.environ.update(CORA_URI=uri, CORA_SIM_TIME_SCALE="0.4", CORA_RESUME_SLEEP="0.5")
    os.environ.setdefault("CORA_SPOOL", tempfile.mkdtemp(prefix="cora-demo-spool-"))
    logging.getLogger("bluesky").setLevel(logging.CRITICAL)  # refusals are told below, not logged
    say("== The 2-BM profile: RunEngine, simulated PSS IOC, beamline model, devices, plans")
    ns = run_startup(startup_dir)
    RE, record, cora = ns["RE"], ns["record"], ns["cora"]
    assets = ns["beamline_ids"]["assets"]
    say(f"   PSS prefix {os.environ['CORA_PSS_PREFIX']}; hutches 2-BM-A (optics) and 2-BM-B (experiment)")

    say("== Who acts: the beamline session operates, a safety officer reviews")
    say(f"   this session acts as {record.principal} ({', '.join(record.get_principal(record.principal).roles)})")
    if not any(p.id == SAFETY_OFFICER for p in record.list_principals(limit=500).items):
        record.register_principal(principal_id=SAFETY_OFFICER, roles=["safety"])
    officer = record.bound(principal=SAFETY_OFFICER)
    say(f"   {SAFETY_OFFICER} registered with the safety role by {record.principal}")

    known = _all_ids(record)  # the demo may run again on a record that already tells a story
    say("== A sample and its safety form")
    for earlier in every(record.list_clearances, status="Active"):
        if earlier.title == ESAF_TITLE:  # left in force by an earlier demo that did not finish
            officer.expire_clearance(earlier.id)
    sample = record.register_subject(name="sn-2024-038 battery cathode")
    record.mount_subject(sample.id)
    esaf = record.register_clearance(
        form_type="aps-esaf", title=ESAF_TITLE,
        subject_ids=[sample.id], asset_ids=[assets["camera"]], hazards=["lithium compounds"],
    )
    record.submit_clearance(esaf.id)
    say("   the beamline session tries to review its own ESAF:")
    _refused(say, lambda: record.start_clearance_review(esaf.id))
    officer.start_clearance_review(esaf.id)
    say(f"   sample {sample.name} mounted; ESAF 271828 filed, and under review by {SAFETY_OFFICER}")
    say("   RE(tomo_scan(), subject_id=...) before the ESAF is in force:")
    _refused(say, lambda: RE(ns["tomo_scan"](), subject_id=sample.id))
    if _all_ids(record)["runs"] != known["runs"]:
        raise RuntimeError("a refused run wrote to the record")
    officer.approve_clearance(esaf.id)
    officer.activate_clearance(esaf.id)
    say(f"   {SAFETY_OFFICER} approves and activates the ESAF; the record names who did each step:")
    for moment in record.timeline("clearance", esaf.id):
        via = str(moment.details.get("acted_via", "?")).split("/")[0]
        say(f"     {moment.event:24} by {moment.actor} via {via}")

    say("== Reference frames: Runs with no sample")
    RE(ns["dark_field"]())
    say("   dark_field: frames with the station shutter closed")
    RE(ns["flat_field"]())
    say("   flat_field: frames with the sample moved out of the beam")

    say("== Alignment: a Procedure that leaves a calibration, not a dataset")
    RE(ns["find_rotation_center"]())
    (center,) = [c for c in record.active_calibrations([assets["rotation stage"]]) if c.quantity == "rotation_center"]
    truth = (ns["camera"].width - 1) / 2 + ns["camera"].axis_offset
    say(f"   rotation_center = {center.value} px (the simulator's axis is at {truth} px)")

    say("== Tomography: a beam dump and a steer while it runs")
    _beam_dump_and_steer(RE, ns["ring_current"], cora, say)
    RE(ns["tomo_scan"](), subject_id=sample.id)

    say("== A scan whose process dies, truncated afterwards")
    lost = _killed_scan(record, startup_dir, sample.id, say)
    cora.flush(30)

    officer.expire_clearance(esaf.id)
    say(f"   the beamtime ends: {SAFETY_OFFICER} expires ESAF 271828")

    say("\n== The record (this session)")
    for run in reversed([run for run in every(record.list_runs) if run.id not in known["runs"]]):
        _timeline(record, run, say)
    for procedure in [p for p in every(record.list_procedures) if p.id not in known["procedures"]]:
        say(f" - procedure {procedure.name!r} ({procedure.kind}): {procedure.status},"
            f" {len(record.list_procedure_steps(procedure.id))} steps")
    say(f"   calibration of record: rotation_center = {center.value} {center.units}, from that procedure")
    say(f"\nBrowse it: cora principal register --uri '{uri}' you --role viewer")
    say(f"           cora token create --uri '{uri}' --principal you --role viewer")
    say(f"           cora serve --uri '{uri}'   then   curl -H 'Authorization: Bearer ...' localhost:8000/runs")
    say("           or open http://localhost:8000/view/ in a browser and sign in with the token")
    ids = {"runs": sorted(_all_ids(record)["runs"] - known["runs"]), "lost": lost, "calibration": center.id}
    cora.close(30)
    record.close()
    return ids


ESAF_TITLE = "ESAF 271828: tomography of battery cathodes"


def _all_ids(record) -> dict[str, set[str]]:
    return {"runs": {r.id for r in every(record.list_runs)}, "procedures": {p.id for p in every(record.list_procedures)}}


def _refused(say: Say, attempt: Callable[[], object]) -> None:
    try:
        attempt()
    except e.CoraError as refusal:
        say(f"   refused: {refusal.name}: {refusal.message}")
    else:  # another clearance in force on this record covers the scope: say so, honestly
        say("   not refused: a clearance already in force on this record covers the run")


def _beam_dump_and_steer(RE, ring_current, cora, say: Say) -> None:
    """At the 6th frame the ring dumps its beam for a second; at the 20th the exposure is steered."""
    done: set[str] = set()

    def later(action: Callable[[], None]) -> None:
        threading.Thread(target=action, daemon=True).start()

    def dump() -> None:
        say("   ring current 102 -> 0 mA: the supervisor holds the run")
        ring_current.put(0.0)
        time.sleep(1.0)
        say("   beam back: both gates pass again, the run resumes")
        ring_current.put(102.0)

    def steer() -> None:
        cora.adjust({"exposure_time_ms": 75}, "more exposure to recover signal after the refill")
        say("   exposure steered 50 -> 75 ms, with its reason")

    def watch(name: str, doc: dict) -> None:
        if name != "event" or doc.get("descriptor") is None:
            return
        if doc["seq_num"] == 6 and "dump" not in done:
            done.add("dump")
            later(dump)
        elif doc["seq_num"] == 20 and "steer" not in done:
            done.add("steer")
            later(steer)

    token = RE.subscribe(watch)

    def unsubscribe(name: str, doc: dict) -> None:
        if name == "stop":
            RE.unsubscribe(token)
            RE.unsubscribe(stopper)

    stopper = RE.subscribe(unsubscribe)


def _killed_scan(record, startup_dir: str | Path, subject_id: str, say: Say) -> str:
    env = {**os.environ, "CORA_SIM_TIME_SCALE": "1", "CORA_SPOOL": tempfile.mkdtemp(prefix="cora-demo-child-")}
    child = subprocess.Popen(
        [sys.executable, "-m", "cora_bluesky.sim.session", "--startup-dir", str(startup_dir), "--subject", subject_id],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    known = {run.id for run in record.list_runs(limit=500).items}
    deadline = time.monotonic() + 60
    while True:
        running = [run for run in record.list_runs(status="Running").items if run.id not in known]
        if running and record.list_run_readings(running[0].id):
            break
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            raise RuntimeError("the acquisition process never started its scan")
        time.sleep(0.2)
    time.sleep(1.5)
    child.send_signal(signal.SIGKILL)
    child.wait()
    say(f"   the acquisition process (pid {child.pid}) is killed mid-scan; the record still says Running")
    stale = [(run, seen) for run, seen in record.stale_runs(idle_for=timedelta(0)) if run.id == running[0].id]
    run, last_seen = stale[0]
    say(f"   cora runs stale: {run.name} last seen {last_seen.isoformat()}")
    record.truncate_run(run.id, reason="acquisition process killed (simulated power cut)", interrupted_at=last_seen)
    say("   cora runs truncate: closed as Truncated, interrupted at the last moment the record saw")
    return run.id


def _timeline(record, run, say: Say) -> None:
    holds = run.hold_count
    adjustments = [event.payload for event in record.history("run", run.id) if event.event_type == "RunAdjusted"]
    readings = len(record.list_run_readings(run.id))
    subject = record.get_subject(run.subject_id).name if run.subject_id else "no subject"
    say(f" - {run.name} ({subject}): {run.status}")
    pinned = [record.get_calibration(c) for c in run.pinned_calibrations]
    pins = ", ".join(f"{c.quantity}={c.value} {c.units}" for c in pinned) or "none"
    say(f"     holds {holds}, adjustments {len(adjustments)}, readings {readings}, pinned calibration: {pins}")
    for adjustment in adjustments:
        say(f"     adjusted {adjustment['parameter_patch']}: {adjustment['reason']}")
    say(f"     parameters {dict(run.effective_parameters)}")
    if run.last_reason:
        say(f"     reason: {run.last_reason}")
    if run.interrupted_at:
        say(f"     interrupted at {run.interrupted_at.isoformat()} (truncated at {run.updated_at.isoformat()})")
    if run.summary:
        summary = run.summary
        say(f"     summary: events {summary.get('events_per_stream')}, {summary.get('duration_s', 0):.1f} s,"
            f" held {summary.get('time_held_s', 0):.1f} s, exit {summary.get('exit_status')}")
