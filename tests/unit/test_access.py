"""The token decider and the role grants."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import NOW

from cora_bluesky.domain import access as ac
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import Duty, Role
from cora_bluesky.domain.values import At

ROLES = [role.value for role in Role]
#: issuing to a principal holding every role, from a session (not through a token)
ISSUE = ac.IssueContext(NOW, frozenset(Role))


def issued(role: str = "operator") -> ac.TokenState:
    (event,) = ac.decide(ac.IssueToken("t1", " ana ", role, "h" * 64), None, ISSUE)
    return ac.evolve(None, event)


def test_issue_trims_the_principal_and_keeps_only_the_hash():
    token = issued()
    assert (token.principal, token.role, token.secret_hash, token.status) == (
        "ana",
        Role.OPERATOR,
        "h" * 64,
        ac.TokenStatus.ACTIVE,
    )


@pytest.mark.parametrize(
    "command, error",
    [
        (ac.IssueToken("t1", "  ", "operator", "h"), e.InvalidTokenPrincipalError),
        (ac.IssueToken("t1", "x" * 201, "operator", "h"), e.InvalidTokenPrincipalError),
        (ac.IssueToken("t1", "ana", "superuser", "h"), e.InvalidTokenRoleError),
        (ac.IssueToken("t1", "ana", None, "h"), e.InvalidTokenRoleError),
        (ac.RevokeToken("t9"), e.TokenNotFoundError),
    ],
)
def test_refusals_are_named(command, error):
    with pytest.raises(error):
        ac.decide(command, None, ISSUE if isinstance(command, ac.IssueToken) else At(NOW))


def test_a_second_issue_under_one_id_is_refused():
    with pytest.raises(e.TokenAlreadyExistsError):
        ac.decide(ac.IssueToken("t1", "bo", "viewer", "h"), issued(), ISSUE)


@given(st.lists(st.sampled_from(["revoke", "issue"]), max_size=6), st.sampled_from(ROLES))
def test_revoked_is_terminal_and_every_refusal_is_named(commands, role):
    state = issued(role)
    revoked = False
    for name in commands:
        command = ac.RevokeToken("t1") if name == "revoke" else ac.IssueToken("t1", "x", role, "h")
        try:
            events = ac.decide(command, state, ISSUE if name == "issue" else At(NOW))
        except e.CoraError as refusal:
            assert isinstance(refusal, (e.TokenCannotRevokeError, e.TokenAlreadyExistsError))
            continue
        assert name == "revoke" and not revoked
        for event in events:
            state = ac.evolve(state, event)
        revoked = True
    assert ac.is_terminal(state) == revoked
    assert state.role == Role(role)


@given(st.sampled_from(list(Role)), st.sampled_from(list(Duty)))
def test_every_role_reads_and_duties_are_separate(role, duty):
    allowed = ac.permits(role, duty)
    if duty is Duty.READ:
        assert allowed
    # nobody both administers the beamline and reviews or operates: separate duties
    if role is Role.ADMIN and duty in {Duty.OPERATE, Duty.REVIEW}:
        assert not allowed
    if duty is Duty.REVIEW:
        assert allowed == (role is Role.SAFETY)
    if role is Role.VIEWER:
        assert allowed == (duty is Duty.READ)


def test_a_token_goes_only_to_a_registered_principal():
    with pytest.raises(e.PrincipalNotFoundError):
        ac.decide(ac.IssueToken("t1", "nobody", "viewer", "h"), None, ac.IssueContext(NOW, None))


def test_a_token_cannot_widen_its_principals_roles():
    with pytest.raises(e.TokenRoleNotHeldError) as refused:
        ac.decide(ac.IssueToken("t1", "ana", "safety", "h"), None, ac.IssueContext(NOW, frozenset({Role.OPERATOR})))
    assert refused.value.data["held"] == ["operator"]


def test_a_token_issued_through_a_token_carries_no_role_the_issuing_token_lacks():
    # the admin token minting a safety token for a real safety officer: impersonation
    context = ac.IssueContext(NOW, frozenset({Role.SAFETY}), issuer_roles=frozenset({Role.ADMIN}))
    with pytest.raises(e.TokenCannotWidenIssuerError):
        ac.decide(ac.IssueToken("t1", "safety-1", "safety", "h"), None, context)


@pytest.mark.parametrize("expires_at", [NOW, NOW - timedelta(seconds=1), datetime(2030, 1, 1)])
def test_an_expiry_is_a_zoned_time_after_issue(expires_at):
    with pytest.raises(e.InvalidTokenExpiryError):
        ac.decide(ac.IssueToken("t1", "ana", "viewer", "h", expires_at), None, ISSUE)


def test_an_expired_token_is_not_valid():
    (event,) = ac.decide(ac.IssueToken("t1", "ana", "viewer", "h", NOW + timedelta(hours=1)), None, ISSUE)
    token = ac.evolve(None, event)
    assert token.valid_at(NOW) and not token.valid_at(NOW + timedelta(hours=1))
