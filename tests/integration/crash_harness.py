"""SIGKILL at random moments, then compare the record with what the RunEngine really emitted.

As a script, ``python crash_harness.py URI SPOOL TRUTH SEED`` is a beamline session: a RunEngine
with cora installed, a baseline and a monitor, scanning (every third run fails) until it is
killed. A ground-truth subscriber, subscribed after cora, writes and fsyncs every document it
sees to ``TRUTH``: whatever it holds, cora was handed first. With ``TRUTH`` ``-`` the session
only replays what earlier sessions left, then exits.

As a module, :func:`trials` runs sessions one after another on one record, killing each at a
random document count (some while they still replay the sessions before), and :func:`verdict`
compares the record with every ground truth.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

STATUS_OF_EXIT = {"success": "Completed", "fail": "Aborted", "abort": "Aborted"}


def warming(signal, period: float) -> None:
    """A sample warming up: the monitored signal changes every ``period`` seconds."""
    value = 290.0
    while True:
        value += 0.5
        signal.put(value)
        time.sleep(period)


def _session(uri: str, spool: str, truth: str, seed: int) -> None:
    import bluesky.plan_stubs as bps
    import bluesky.plans as bp
    import bluesky.preprocessors as bpp
    from bluesky import RunEngine, SupplementalData
    from ophyd import Signal
    from ophyd.sim import SynAxis, SynGauss

    import cora_bluesky

    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    RE = RunEngine({})
    cora = cora_bluesky.install(RE, record, spool=spool, outside_hutches=["*"])  # its soft signals sit in no hutch
    print("installed", flush=True)
    if truth == "-":
        assert cora.close(600), "the replay did not finish"
        print("replayed", flush=True)
        return
    lock = threading.Lock()
    sink = open(truth, "a")

    def ground_truth(name, doc):
        line = json.dumps([name, doc], default=lambda value: getattr(value, "tolist", lambda: str(value))())
        with lock:
            sink.write(line + "\n")
            sink.flush()
            os.fsync(sink.fileno())

    RE.subscribe(ground_truth)
    rot = SynAxis(name="rot")
    cam = SynGauss("cam", rot, "rot", center=0, Imax=1)
    temp = Signal(name="sample_temp", value=290.0)
    ring = Signal(name="ring_current", value=100.0)
    RE.preprocessors.insert(0, SupplementalData(baseline=[ring], monitors=[temp]))
    subject = record.list_subjects().items[0].id
    rng = random.Random(seed)

    @bpp.run_decorator(md={"plan_name": "count", "detectors": ["cam"]})
    def failing(points):
        for _ in range(points):
            yield from bps.trigger_and_read([cam])
        raise RuntimeError("detector saturated")

    threading.Thread(target=warming, args=(temp, 0.005), daemon=True).start()
    for n in range(1, 10**6):
        ring.put(100.0 - n * 0.01)
        points = rng.randint(2, 12)
        try:
            RE(failing(points) if n % 3 == 0 else bp.count([cam], num=points, delay=0.003), subject_id=subject)
        except RuntimeError:
            pass


def _lines(path: Path) -> int:
    try:
        with open(path, "rb") as source:
            return source.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _wait_for(condition, child, timeout: float, what: str) -> None:
    from support import wait_for  # the parent's helper: the child sessions never call this

    wait_for(lambda: condition() or child.poll() is not None, timeout, f"the session to reach {what}")
    if not condition():
        raise AssertionError(f"the session exited ({child.returncode}) before {what}")


def trials(uri: str, folder: Path, count: int, seed: int = 0, log=None) -> list[Path]:
    """Run ``count`` sessions on one record, each SIGKILLed at a random document count, then a
    session that only replays. Returns the ground-truth files."""
    rng = random.Random(seed)
    spool, truths = folder / "spool", []
    for trial in range(count):
        truth = folder / f"truth-{trial:03d}.jsonl"
        truths.append(truth)
        out = open(folder / f"session-{trial:03d}.log", "w")
        child = subprocess.Popen([sys.executable, __file__, uri, str(spool), str(truth), str(seed * 1000 + trial)],
                                 stdout=subprocess.PIPE, stderr=out, text=True)
        try:
            if trial % 4 == 3:  # killed while it still replays what the sessions before left
                kill_after = None
                assert child.stdout.readline().strip() == "installed", "the session never installed cora"
                threading.Event().wait(rng.uniform(0, 0.3))  # a random instant of the replay
            else:
                kill_after = rng.randint(1, 400)
                _wait_for(lambda: _lines(truth) >= kill_after, child, 120, f"{kill_after} documents")
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(30)
            out.close()
        if log is not None:
            log(f"trial {trial}: killed after {_lines(truth)} documents (target {kill_after})")
    with open(folder / "replay.log", "w") as out:
        done = subprocess.run([sys.executable, __file__, uri, str(spool), "-", "0"], stdout=subprocess.PIPE,
                              stderr=out, text=True, timeout=600)
    assert done.stdout.split() == ["installed", "replayed"], (folder / "replay.log").read_text()[-3000:]
    return truths


def ground_truth(truths: list[Path]) -> tuple[Counter, dict[str, str], dict[str, set]]:
    """Readings the RunEngine emitted (run, channel, procedure, source time, value, seq_num), the
    status each run's stop implies, and each run's primary seq_nums."""
    readings: Counter = Counter()
    ended: dict[str, str] = {}
    primary: dict[str, set] = {}
    for truth in truths:
        runs, streams = {}, {}
        for line in truth.read_text().splitlines() if truth.exists() else ():
            try:
                name, doc = json.loads(line)
            except ValueError:
                continue  # the line the kill cut short
            if name == "start" and doc.get("cora_run_id"):
                runs[doc["uid"]] = doc["cora_run_id"]
            elif name == "descriptor" and doc["run_start"] in runs:
                streams[doc["uid"]] = (runs[doc["run_start"]], doc.get("name", ""))
            elif name == "event" and doc["descriptor"] in streams:
                run, stream = streams[doc["descriptor"]]
                procedure = "baseline" if stream == "baseline" else "monitor" if stream.endswith("_monitor") else None
                if stream == "primary":
                    primary.setdefault(run, set()).add(doc["seq_num"])
                if procedure:
                    for key, value in doc["data"].items():
                        readings[(run, key, procedure, instant(doc["timestamps"][key]), value, doc["seq_num"])] = 1
            elif name == "stop" and doc["run_start"] in runs:
                ended[runs[doc["run_start"]]] = STATUS_OF_EXIT[doc["exit_status"]]
    return readings, ended, primary


def verdict(uri: str, db: Path, truths: list[Path]) -> dict:
    """What the record lost, duplicated or ended wrongly against the ground truths."""
    import cora_bluesky

    expected, ended, primary = ground_truth(truths)
    recorded: Counter = Counter()
    wrong = []
    with cora_bluesky.connect(uri) as record:
        runs = {}
        cursor = None
        while True:
            page = record.list_runs(limit=500, cursor=cursor)
            runs.update({run.id: run for run in page.items})
            if page.next is None:
                break
            cursor = page.next
        for run_id in runs:
            for row in record.list_run_readings(run_id):
                key = (run_id, row["channel_name"], row["sampling_procedure"],
                       instant(row["sampled_at"]), row["value"], int(row["event_id"].split(":")[-2]))
                recorded[key] += 1
        for run_id, status in ended.items():
            run = runs[run_id]
            counted = (run.summary or {}).get("events_per_stream", {}).get("primary", 0)
            if str(run.status) != status or counted != len(primary.get(run_id, ())):
                wrong.append((run_id, str(run.status), status, counted, len(primary.get(run_id, ()))))
    check = sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0]
    return {
        "expected": len(expected),
        "lost": sorted(set(expected) - set(recorded)),
        "duplicated": sorted(key for key, n in recorded.items() if n > 1),
        "runs_ended": len(ended),
        "wrong_status": wrong,  # status, or the summary's primary event count, not as emitted
        "integrity": check,
    }


def instant(value):
    """A source timestamp (seconds) or a recorded ``sampled_at``, as the same aware datetime."""
    from datetime import datetime, timezone

    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


if __name__ == "__main__":
    _session(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
