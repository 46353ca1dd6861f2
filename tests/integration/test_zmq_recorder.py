"""Out of process: `cora record --zmq` folds documents published through a Bluesky 0MQ proxy."""

from __future__ import annotations

import socket
import itertools
import subprocess
import sys
from pathlib import Path

import bluesky.plans as bp
from bluesky import RunEngine
from bluesky.callbacks.zmq import Publisher
from ophyd.sim import SynAxis, SynGauss
from support import build_beamline, wait_for

import cora_bluesky


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def received(spool: Path, marker: bytes) -> bool:
    """Whether the consumer's recorder has spooled a document carrying ``marker``."""
    return any(marker in path.read_bytes() for path in spool.glob("*.spool"))


def connect_through(publisher: Publisher, spool: Path) -> None:
    """Publish probes until the consumer demonstrably receives one.

    Each PUB/SUB hop (publisher -> proxy -> consumer) drops what is sent before its subscriber
    has joined; once one probe arrives, both hops are joined. A probe is a ``datum`` document,
    which the recorder spools and otherwise ignores.
    """
    probes = itertools.count()

    def probe_arrived() -> bool:
        publisher("datum", {"datum_id": f"cora-probe/{next(probes)}", "resource": "cora-probe", "datum_kwargs": {}})
        return received(spool, b"cora-probe")

    wait_for(probe_arrived, 30, "a probe through the proxy to reach the consumer", interval=0.1)


def test_documents_through_the_proxy_reach_the_record(tmp_path):
    uri = f"sqlite:///{tmp_path / 'r.db'}"
    record = cora_bluesky.connect(uri, permits=cora_bluesky.StaticPermits({"2-BM-B": True}))
    ids = build_beamline(record)
    record.register_plan(name="scan", method_id=ids.method, default_parameters={"exposure": 0.1})
    inbound, outbound, spool = free_port(), free_port(), tmp_path / "spool"
    proxy = subprocess.Popen([sys.executable, "-m", "bluesky.commandline.zmq_proxy", str(inbound), str(outbound)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    consumer = subprocess.Popen(
        [sys.executable, "-m", "cora_bluesky.cli", "record", "--zmq", f"127.0.0.1:{outbound}", "--uri", uri,
         "--spool", str(spool)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert "recording documents" in consumer.stdout.readline()
        publisher = Publisher(f"127.0.0.1:{inbound}")
        connect_through(publisher, spool)
        RE = RunEngine({})
        cora = cora_bluesky.install(RE, record, record_documents=False)
        RE.subscribe(publisher)
        rot = SynAxis(name="rot")
        cam = SynGauss("cam", rot, "rot", center=0, Imax=1)
        (uid,) = RE(bp.scan([cam], rot, -1, 1, 5), subject_id=ids.subject)
        assert cora.recorder is None
        wait_for(lambda: record.list_runs().items[0].status == "Completed", 30,
                 "the remote recorder to complete the run", interval=0.2)
        run = record.list_runs().items[0]
        assert run.datasets[0].start_uid == uid and run.summary["events_per_stream"] == {"primary": 5}
    finally:
        for process in (consumer, proxy):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
