"""Tokens in the record and idempotency keys in the store, against every store."""

from __future__ import annotations

import sqlite3

import pytest

import cora_bluesky
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import Role, TokenStatus
from cora_bluesky.storage.sqlite_schema import MIGRATIONS

T0 = "2026-05-20T14:30:00.000000+00:00"


def test_a_token_authenticates_its_principal_until_revoked(record):
    token, secret = record.issue_token(principal="ana", role="operator")
    assert secret.startswith("cora_") and len(secret) > 40
    assert record.authenticate(secret) == token
    assert token.role is Role.OPERATOR
    # only the hash is stored: the secret appears in no event and no projection
    stored = str([event.payload for event in record.history("token", token.id)])
    assert secret not in stored and token.secret_hash in stored
    record.revoke_token(token.id)
    with pytest.raises(e.UnauthorizedError):
        record.authenticate(secret)
    assert record.get_token(token.id).status is TokenStatus.REVOKED
    with pytest.raises(e.TokenCannotRevokeError):
        record.revoke_token(token.id)


@pytest.mark.parametrize("secret", ["", "cora_unknown", "x" * 5000, None, 42])
def test_unknown_or_malformed_secrets_are_unauthorized(record, secret):
    record.issue_token(principal="ana", role="viewer")
    with pytest.raises(e.UnauthorizedError):
        record.authenticate(secret)


def test_tokens_are_listed_and_their_issuer_is_on_the_event(record):
    first, _ = record.issue_token(principal="ana", role="viewer")
    second, _ = record.issue_token(principal="bo", role="safety")
    assert [t.id for t in record.list_tokens().items] == [second.id, first.id]
    assert {event.actor for event in record.history("token", first.id)} == {"tester"}


def test_a_key_is_claimed_once_then_settled(store):
    assert store.claim_key("k", "fp1", T0) is None
    earlier = store.claim_key("k", "fp2", T0)
    assert (earlier["fingerprint"], earlier["claimed_at"], earlier["response"]) == ("fp1", T0, None)
    store.settle_key("k", {"status": 201, "body": {"run_id": "r1", "n": [1.5]}})
    assert store.claim_key("k", "fp1", T0)["response"] == {"status": 201, "body": {"run_id": "r1", "n": [1.5]}}


def test_a_settled_key_is_neither_released_nor_resettled(store):
    store.claim_key("k", "fp", T0)
    store.settle_key("k", {"status": 200, "body": {"a": 1}})
    store.release_key("k")
    store.settle_key("k", {"status": 500, "body": {}})
    assert store.claim_key("k", "fp", T0)["response"] == {"status": 200, "body": {"a": 1}}


def test_a_released_key_can_be_claimed_again(store):
    store.claim_key("k", "fp", T0)
    store.release_key("k")
    assert store.claim_key("k", "other", T0) is None
    assert store.claim_key("k", "fp", T0)["fingerprint"] == "other"


def test_a_first_version_sqlite_file_gains_the_key_table_and_keeps_its_record(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO events (stream_id, version, kind, event_id, event_type, payload, occurred_at, recorded_at,"
        " actor, correlation_id) VALUES ('subject:s1', 1, 'subject', 'ev1', 'SubjectRegistered',"
        ' \'{"subject_id": "s1", "name": "sn-1", "occurred_at": "2026-05-20T14:30:00.000000+00:00"}\','
        " ?, ?, 'old', 'c')",
        (T0, T0),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    record = cora_bluesky.connect(f"sqlite:///{path}")
    assert record.store.schema_version == len(MIGRATIONS)
    assert record.get_subject("s1").name == "sn-1"
    assert record.store.claim_key("k", "fp", T0) is None
    record.close()
