"""`cora serve` as a real process on 127.0.0.1, driven over HTTP with httpx and CLI tokens."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from support import wait_for

from cora_bluesky.cli import main
from cora_bluesky.sim.loopback import free_port


def token(uri: str, principal: str, role: str, capsys) -> str:
    """A principal registered and issued a token at the console, as an administrator does."""
    assert main(["principal", "register", "--uri", uri, principal, "--role", role]) == 0
    capsys.readouterr()
    assert main(["token", "create", "--uri", uri, "--principal", principal, "--role", role]) == 0
    captured = capsys.readouterr()
    assert principal in captured.err
    return captured.out.strip()


@pytest.fixture
def server(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'record.db'}"
    assert main(["principal", "bootstrap", "--uri", uri]) == 0  # the login name administers the new record
    tokens = {role: token(uri, f"{role}-ana", role, capsys) for role in ("operator", "safety", "admin", "viewer")}
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cora_bluesky.cli",
            "serve",
            "--uri",
            uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--permit",
            "2-BM-A=1",
            "--permit",
            "2-BM-B=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if process.poll() is not None:
            pytest.fail(f"cora serve exited: {process.stdout.read().decode()[-2000:]}")
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(answering, 60, "cora serve to answer /health", interval=0.2)
    except AssertionError:
        process.kill()
        raise
    yield base, tokens, uri
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def test_a_whole_run_lifecycle_over_http(server):
    base, tokens, uri = server

    def client(role: str) -> httpx.Client:
        return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens[role]}"}, timeout=30)

    admin, operator, safety = client("admin"), client("operator"), client("safety")
    key = lambda: {"Idempotency-Key": str(uuid.uuid4())}  # noqa: E731
    hutch = admin.post("/enclosures", json={"name": "2-BM-B", "secured_pv": "PA:02BM:STA_B"}).json()
    stage = admin.post(
        "/assets", json={"name": "rotation stage", "family": "rotation_stage", "enclosure_id": hutch["id"]}
    ).json()
    method = admin.post(
        "/methods",
        json={"name": "tomography", "needed_families": ["rotation_stage"], "parameters_schema": {"type": "object"}},
    ).json()
    plan = admin.post(
        "/plans",
        json={
            "name": "tomo_scan",
            "method_id": method["id"],
            "asset_ids": [stage["id"]],
            "default_parameters": {"exposure_ms": 50},
        },
    ).json()
    subject = operator.post("/subjects", json={"name": "sn-2024-038"}).json()
    operator.post(f"/subjects/{subject['id']}/mount")
    start = {"name": "tomography of sn-2024-038", "plan_id": plan["id"], "subject_id": subject["id"]}

    refused = operator.post("/runs", json=start, headers={"Idempotency-Key": "first-press"})
    assert (refused.status_code, refused.json()["error"]) == (409, "RunRequiresActiveClearance")
    form = operator.post(
        "/clearances", json={"form_type": "aps-esaf", "title": "ESAF 271828", "subject_ids": [subject["id"]]}
    ).json()
    operator.post(f"/clearances/{form['id']}/submit")
    for verb in ("start-review", "approve", "activate"):
        assert safety.post(f"/clearances/{form['id']}/{verb}").status_code == 200
    started = operator.post("/runs", json=start, headers={"Idempotency-Key": "first-press"})
    assert started.status_code == 201
    run = started.json()["run_id"]
    assert operator.post(f"/runs/{run}/hold").json()["status"] == "Held"
    assert operator.post(f"/runs/{run}/resume").json()["status"] == "Running"
    steered = operator.post(
        f"/runs/{run}/adjust",
        headers=key(),
        json={"parameter_patch": {"exposure_ms": 75}, "reason": "signal low after drift"},
    )
    assert steered.json()["effective_parameters"] == {"exposure_ms": 75}
    sampled = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    reading = {
        "channel_name": "ring_current",
        "value": 102.3,
        "units": "mA",
        "sampling_procedure": "baseline",
        "sampled_at": sampled,
    }
    assert operator.post(f"/runs/{run}/readings", json=reading).json() == {"event_count": 1}
    assert operator.post(f"/runs/{run}/complete").json()["status"] == "Completed"
    again = operator.post(f"/runs/{run}/complete")
    assert (again.status_code, again.json()["error"]) == (409, "RunCannotComplete")

    viewer = client("viewer")
    listed = viewer.get("/runs", params={"status": "Completed"}).json()
    assert [r["id"] for r in listed["items"]] == [run]
    got = viewer.get(f"/runs/{run}").json()
    assert (got["adjustment_count"], got["last_reason"]) == (1, None)
    assert viewer.post(f"/runs/{run}/hold").status_code == 403
    assert httpx.get(f"{base}/runs").status_code == 401
    openapi = httpx.get(f"{base}/openapi.json").json()
    assert "409" in openapi["paths"]["/runs"]["post"]["responses"]

    # the record the server wrote is the one on disk, with the token's principal on every event
    import cora_bluesky

    with cora_bluesky.connect(uri) as record:
        assert {event.actor for event in record.history("run", run)} == {"operator-ana"}
