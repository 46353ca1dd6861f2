"""Out of process: `cora record --zmq` folds documents published through a Bluesky 0MQ proxy."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import bluesky.plans as bp
from bluesky import RunEngine
from bluesky.callbacks.zmq import Publisher
from ophyd.sim import SynAxis, SynGauss
from support import build_beamline

import cora_bluesky


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_documents_through_the_proxy_reach_the_record(tmp_path):
    uri = f"sqlite:///{tmp_path / 'r.db'}"
    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    record.register_plan(name="scan", method_id=ids.method, default_parameters={"exposure": 0.1})
    inbound, outbound = free_port(), free_port()
    proxy = subprocess.Popen([sys.executable, "-m", "bluesky.commandline.zmq_proxy", str(inbound), str(outbound)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    consumer = subprocess.Popen(
        [sys.executable, "-m", "cora_bluesky.cli", "record", "--zmq", f"127.0.0.1:{outbound}", "--uri", uri,
         "--spool", str(tmp_path / "spool")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert "recording documents" in consumer.stdout.readline()
        time.sleep(1.0)  # 0MQ subscriptions join a moment after the socket opens
        RE = RunEngine({})
        cora = cora_bluesky.install(RE, record, record_documents=False)
        RE.subscribe(Publisher(f"127.0.0.1:{inbound}"))
        rot = SynAxis(name="rot")
        cam = SynGauss("cam", rot, "rot", center=0, Imax=1)
        (uid,) = RE(bp.scan([cam], rot, -1, 1, 5), subject_id=ids.subject)
        assert cora.recorder is None
        deadline = time.monotonic() + 30
        while record.list_runs().items[0].status != "Completed":
            assert time.monotonic() < deadline, "the remote recorder never completed the run"
            time.sleep(0.2)
        run = record.list_runs().items[0]
        assert run.datasets[0].start_uid == uid and run.summary["events_per_stream"] == {"primary": 5}
    finally:
        for process in (consumer, proxy):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
