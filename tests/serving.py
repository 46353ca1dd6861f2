"""The record server under test: an app over a real SQLite record, with a token per role."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import cora_bluesky
from cora_bluesky.server import create_app

ROLES = ("viewer", "operator", "safety", "admin")


class Served:
    """A TestClient over ``create_app`` with one token per role and the 2-BM beamline built."""

    def __init__(self, uri: str, *, permits: dict[str, bool] | None = None, clock=None) -> None:
        from fastapi.testclient import TestClient
        from support import build_beamline, staff

        self.permits = cora_bluesky.StaticPermits(permits or {"2-BM-A": True, "2-BM-B": True})
        options = {"clock": clock} if clock is not None else {}
        self.record = staff(
            cora_bluesky.connect(uri, permits=self.permits, principal="setup", **options),
            **{f"{role}-1": (role,) for role in ROLES},
        )
        self.tokens = {role: self.record.issue_token(principal=f"{role}-1", role=role)[1] for role in ROLES}
        self.ids = build_beamline(self.record, activate=False)
        self.app = create_app(self.record)
        self.client = TestClient(self.app, raise_server_exceptions=False)

    def headers(self, role: str | None = "operator", *, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def call(self, method: str, path: str, role: str | None = "operator", *, key: str | bool | None = None, **kw):
        """One request; ``key=True`` sends a fresh Idempotency-Key."""
        chosen = str(uuid.uuid4()) if key is True else key
        headers = {**self.headers(role, key=chosen), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def clearance(self, **bindings) -> str:
        """A clearance walked to Active over HTTP, as its filer and a safety officer would."""
        made = self.call("POST", "/clearances", json={"form_type": "aps-esaf", "title": "ESAF 271828", **bindings})
        assert made.status_code == 201, made.text
        clearance_id = made.json()["id"]
        assert self.call("POST", f"/clearances/{clearance_id}/submit").status_code == 200
        for verb in ("start-review", "approve", "activate"):
            assert self.call("POST", f"/clearances/{clearance_id}/{verb}", "safety").status_code == 200
        return clearance_id

    def start(self, **fields) -> SimpleNamespace:
        body = {"name": "tomography of sn-2024-038", "plan_id": self.ids.plan, "subject_id": self.ids.subject, **fields}
        answer = self.call("POST", "/runs", key=True, json=body)
        return SimpleNamespace(status=answer.status_code, body=answer.json(), id=answer.json().get("run_id"))

    def close(self) -> None:
        self.client.close()
        self.record.close()
