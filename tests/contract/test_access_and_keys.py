"""Tokens in the record and idempotency keys in the store, against every store."""

from __future__ import annotations

import sqlite3

import pytest

import cora_bluesky
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import Role, TokenStatus
from cora_bluesky.storage.sqlite_schema import MIGRATIONS

T0 = "2026-05-20T14:30:00.000000+00:00"


@pytest.fixture
def people(record):
    """Principals to issue tokens to, registered by the record's administrator."""
    record.register_principal(principal_id="ana", roles=["viewer", "operator"])
    record.register_principal(principal_id="bo", roles=["safety"])


def test_a_token_authenticates_its_principal_until_revoked(record, people):
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
def test_unknown_or_malformed_secrets_are_unauthorized(record, people, secret):
    record.issue_token(principal="ana", role="viewer")
    with pytest.raises(e.UnauthorizedError):
        record.authenticate(secret)


def test_tokens_are_listed_and_their_issuer_is_on_the_event(record, people):
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
    record.bootstrap()  # a record written before principals: its console takes the first administrator
    assert record.store.schema_version == len(MIGRATIONS)
    assert record.get_subject("s1").name == "sn-1"
    assert record.store.claim_key("k", "fp", T0) is None
    record.close()


def test_every_slice_checks_the_acting_principals_roles(record, people, store_uri):
    viewer = record.bound(principal="viewer-2")
    record.register_principal(principal_id="viewer-2", roles=["viewer"])
    assert viewer.list_runs().items == []
    with pytest.raises(e.ForbiddenError) as refused:
        viewer.register_subject(name="sample")
    assert refused.value.data["needs"] == ["operator"]
    assert record.list_subjects().items == []  # refused before the decider: nothing written
    with pytest.raises(e.PrincipalNotRegisteredError):
        record.bound(principal="stranger").list_runs()


def test_the_operator_cannot_walk_its_own_clearance_through_review(record, people):
    form = record.register_clearance(form_type="aps-esaf", title="ESAF 271828", subject_ids=["s1"])
    record.submit_clearance(form.id)
    for step in (record.start_clearance_review, record.approve_clearance, record.activate_clearance):
        with pytest.raises(e.ForbiddenError):
            step(form.id)
    officer = record.bound(principal="bo")
    officer.start_clearance_review(form.id)
    officer.approve_clearance(form.id)
    assert officer.activate_clearance(form.id).status == "Active"
    acted = [(event.event_type, event.actor) for event in record.store.load(f"clearance:{form.id}")]
    assert acted[-3:] == [("ClearanceReviewStarted", "bo"), ("ClearanceApproved", "bo"), ("ClearanceActivated", "bo")]


def test_roles_change_only_by_another_administrator_and_take_effect_at_once(record, people):
    ana = record.bound(principal="ana")
    ana.register_subject(name="sample")
    record.change_principal_roles("ana", roles=["viewer"])
    with pytest.raises(e.ForbiddenError):
        ana.register_subject(name="another")
    with pytest.raises(e.PrincipalCannotChangeOwnRolesError):
        record.change_principal_roles("tester", roles=["admin", "operator", "viewer"])
    with pytest.raises(e.RecordAlreadyBootstrappedError):
        record.bound(principal="mallory").bootstrap()
    assert [p.roles for p in record.list_principals().items if p.id == "ana"] == [(Role.VIEWER,)]


def test_a_token_acts_with_no_more_than_its_role_and_its_principals(record, people):
    token, secret = record.issue_token(principal="ana", role="viewer")
    through = record.bound(principal="ana", token_id=record.authenticate(secret).id)
    assert through.acting_roles() == {Role.VIEWER}
    with pytest.raises(e.ForbiddenError):
        through.register_subject(name="sample")  # ana operates, but not through a viewer token
    with pytest.raises(e.TokenRoleNotHeldError):
        record.issue_token(principal="ana", role="safety")
    with pytest.raises(e.PrincipalNotFoundError):
        record.issue_token(principal="nobody", role="viewer")
    record.revoke_token(token.id)
    with pytest.raises(e.UnauthorizedError):
        through.list_runs()


def test_a_token_issued_through_an_admin_token_cannot_carry_safety(record, people):
    record.register_principal(principal_id="admin-2", roles=["admin"])
    _, secret = record.issue_token(principal="admin-2", role="admin")
    admin = record.bound(principal="admin-2", token_id=record.authenticate(secret).id)
    before = len(record.list_tokens(limit=500).items)
    with pytest.raises(e.TokenCannotWidenIssuerError):
        admin.issue_token(principal="bo", role="safety")
    assert len(record.list_tokens(limit=500).items) == before


def test_an_expired_token_authenticates_nothing(record, people, clock):
    from datetime import timedelta

    _, secret = record.issue_token(principal="ana", role="viewer", expires_at=clock.current + timedelta(hours=1))
    assert record.authenticate(secret).principal == "ana"
    clock.advance(hours=1)
    with pytest.raises(e.UnauthorizedError):
        record.authenticate(secret)
    with pytest.raises(e.InvalidTokenExpiryError):
        record.issue_token(principal="ana", role="viewer", expires_at=clock.current)


def test_every_event_names_the_token_or_the_session_that_acted(record, people):
    _, secret = record.issue_token(principal="ana", role="operator")
    token = record.authenticate(secret)
    by_token = record.bound(principal="ana", token_id=token.id).register_subject(name="by token")
    by_session = record.register_subject(name="by session")
    (via_token,) = record.store.load(f"subject:{by_token.id}")
    (via_session,) = record.store.load(f"subject:{by_session.id}")
    assert (via_token.actor, via_token.payload["acted_via"]) == ("ana", f"token:{token.id}")
    assert via_session.actor == "tester" and via_session.payload["acted_via"].startswith("session:tester@")
