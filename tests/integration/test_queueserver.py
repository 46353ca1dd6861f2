"""The 2-BM profile under bluesky-queueserver with a real Redis: plans run gated and recorded.

Starts ``redis-server`` and ``start-re-manager --startup-dir profile_collection/startup`` on
127.0.0.1, against this run's PSS IOC, and stops both when done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import wait_for

from support import perform, staff
import cora_bluesky
from cora_bluesky.sim.loopback import free_port

PROFILE = Path(__file__).resolve().parents[2] / "profile_collection"
REDIS = shutil.which("redis-server")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        REDIS is None,
        reason="needs redis-server on PATH: apt-get install redis-server (.ci/run installs it)",
    ),
]


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def queueserver(tmp_path, ioc):
    pytest.importorskip("bluesky_queueserver_api", reason="needs the test extra: pip install -e '.[test]'")
    from bluesky_queueserver_api.zmq import REManagerAPI

    redis_port, control, info = free_port(), free_port(), free_port()
    redis = subprocess.Popen(
        [REDIS, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    uri = f"sqlite:///{tmp_path / 'record.db'}"
    env = {**os.environ, "CORA_URI": uri, "CORA_SPOOL": str(tmp_path / "spool"), "CORA_PSS_PREFIX": ioc.prefix,
           "CORA_RESUME_SLEEP": "0"}
    manager_log = open(tmp_path / "manager.log", "w")
    manager = subprocess.Popen(
        [str(Path(sys.executable).with_name("start-re-manager")),
         "--startup-dir", str(PROFILE / "startup"), "--keep-re",
         "--existing-plans-devices", str(PROFILE / "existing_plans_and_devices.yaml"),
         "--update-existing-plans-devices", "NEVER",
         "--user-group-permissions", str(PROFILE / "user_group_permissions.yaml"),
         "--redis-addr", f"127.0.0.1:{redis_port}", "--redis-name-prefix", f"cora_test_{redis_port}",
         "--zmq-control-addr", f"tcp://127.0.0.1:{control}", "--zmq-info-addr", f"tcp://127.0.0.1:{info}",
         "--use-ipython-kernel", "OFF"],
        stdout=manager_log, stderr=subprocess.STDOUT, env=env,
    )
    RM = REManagerAPI(
        zmq_control_addr=f"tcp://127.0.0.1:{control}", zmq_info_addr=f"tcp://127.0.0.1:{info}", timeout_recv=10,
        timeout_send=5,
    )
    RM.user, RM.user_group = "qs-alice", "primary"
    try:

        def answering() -> bool:
            try:
                RM.status()
                return True
            except Exception:
                if manager.poll() is not None:
                    pytest.fail(f"RE Manager exited: {(tmp_path / 'manager.log').read_text()[-3000:]}")
                return False

        wait_for(answering, 60, "the RE Manager to answer", interval=0.5)
        RM.environment_open()
        RM.wait_for_idle(timeout=120)
        assert RM.status()["worker_environment_exists"], (tmp_path / "manager.log").read_text()[-3000:]
        yield RM, uri, tmp_path / "manager.log"
        try:
            RM.environment_close()
            RM.wait_for_idle(timeout=60)
        except Exception:
            pass
    finally:
        RM.close()
        _stop(manager)
        _stop(redis)
        manager_log.close()


def _run(RM, item) -> dict:
    RM.item_add(item)
    RM.queue_start()
    RM.wait_for_idle(timeout=120)
    return RM.history_get()["items"][-1]


def test_queued_plans_are_gated_and_recorded(queueserver, ioc):
    from bluesky_queueserver_api import BPlan

    RM, uri, log = queueserver
    assert {"dark_field", "flat_field", "find_rotation_center", "tomo_scan"} <= set(RM.plans_allowed()["plans_allowed"])
    assert not any(name.startswith("_") for name in RM.plans_allowed()["plans_allowed"])
    record = staff(cora_bluesky.connect(uri))  # the profile made this login the first administrator
    (camera,) = record.assets_for_devices(["camera"])
    sample = record.register_subject(name="sn-2024-040")
    record.mount_subject(sample.id)
    form = record.register_clearance(form_type="aps-esaf", title="ESAF 271828", asset_ids=[camera.id])
    for step in ("submit_clearance", "start_clearance_review", "approve_clearance", "activate_clearance"):
        perform(record, step, form.id)

    dark = BPlan("dark_field", frames=2)
    dark.meta = {"operator": "qs-alice"}
    assert _run(RM, dark)["result"]["exit_status"] == "completed", log.read_text()[-3000:]
    scan = BPlan("tomo_scan", num_angles=6)
    scan.meta = {"operator": "qs-alice", "subject_id": sample.id}
    assert _run(RM, scan)["result"]["exit_status"] == "completed", log.read_text()[-3000:]

    # the worker's recorder writes a moment after the queue goes idle
    wait_for(lambda: not any(run.status == "Running" for run in record.list_runs().items), 30,
             "the worker's recorder to close both runs", interval=0.2)
    runs = {run.name: run for run in record.list_runs().items}
    assert set(runs) == {"dark_field", "tomo_scan"}
    assert all(run.status == "Completed" and run.triggered_by == "qs-alice" for run in runs.values())
    assert runs["tomo_scan"].subject_id == sample.id and runs["dark_field"].subject_id is None

    ioc.put("B:SECURED", 0)  # the experiment hutch is opened: the gate must refuse
    refused = _run(RM, BPlan("dark_field", frames=2))
    assert refused["result"]["exit_status"] != "completed"
    assert "RunRequiresPermittedEnclosure" in refused["result"]["msg"]
    assert len(record.list_runs().items) == 2  # nothing written

    ioc.put("B:SECURED", 1)
    RM.queue_clear()  # the refused item went back to the queue
    forged = BPlan("dark_field", frames=2)  # a queue item cannot make its run a Procedure
    forged.meta = {"operator": "qs-alice", "cora_procedure": {"name": "align", "kind": "alignment"}}
    refused = _run(RM, forged)
    assert refused["result"]["exit_status"] != "completed"
    assert "ReservedMetadata" in refused["result"]["msg"]
    assert len(record.list_runs().items) == 2 and record.list_procedures().items == []
    record.close()
