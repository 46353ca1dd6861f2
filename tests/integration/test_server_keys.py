"""The server's idempotency keys are its own: kept beside the record by default, or wherever it is told."""

from __future__ import annotations

import sqlite3
from typing import Protocol, runtime_checkable

import pytest

import cora_bluesky
from support import staff
from cora_bluesky.application.ports import IdempotencyKeys
from cora_bluesky.server import create_app
from cora_bluesky.storage import open_store


def _keys_in(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM idempotency_keys").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("apart", [False, True], ids=["beside the record", "in a store of their own"])
def test_a_keyed_create_is_replayed_from_the_server_keys(tmp_path, apart):
    from fastapi.testclient import TestClient

    record = staff(cora_bluesky.connect(f"sqlite:///{tmp_path / 'record.db'}", principal="setup"),
                   **{"operator-1": ("operator",)})
    keys = open_store(f"sqlite:///{tmp_path / 'keys.db'}") if apart else None
    _, secret = record.issue_token(principal="operator-1", role="operator")
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "k-1"}
    try:
        with TestClient(create_app(record, keys=keys)) as client:
            first = client.post("/subjects", headers=headers, json={"name": "sn-9"})
            again = client.post("/subjects", headers=headers, json={"name": "sn-9"})
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        assert len(record.history("subject", first.json()["id"])) == 1
    finally:
        record.close()
        if keys is not None:
            keys.close()
    assert _keys_in(tmp_path / "record.db") == (0 if apart else 1)
    if apart:
        assert _keys_in(tmp_path / "keys.db") == 1


def test_the_record_hands_out_only_ports_its_store_implements(tmp_path):
    @runtime_checkable
    class Teleporter(Protocol):
        def teleport(self) -> None: ...

    with cora_bluesky.connect(f"sqlite:///{tmp_path / 'record.db'}") as record:
        assert isinstance(record.store_as(IdempotencyKeys), IdempotencyKeys)
        with pytest.raises(TypeError, match="does not implement Teleporter"):
            record.store_as(Teleporter)
