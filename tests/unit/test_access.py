"""The token decider and the role grants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import NOW

from cora_bluesky.domain import access as ac
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import Duty, Role
from cora_bluesky.domain.values import At

ROLES = [role.value for role in Role]


def issued(role: str = "operator") -> ac.TokenState:
    (event,) = ac.decide(ac.IssueToken("t1", " ana ", role, "h" * 64), None, At(NOW))
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
        ac.decide(command, None, At(NOW))


def test_a_second_issue_under_one_id_is_refused():
    with pytest.raises(e.TokenAlreadyExistsError):
        ac.decide(ac.IssueToken("t1", "bo", "viewer", "h"), issued(), At(NOW))


@given(st.lists(st.sampled_from(["revoke", "issue"]), max_size=6), st.sampled_from(ROLES))
def test_revoked_is_terminal_and_every_refusal_is_named(commands, role):
    state = issued(role)
    revoked = False
    for name in commands:
        command = ac.RevokeToken("t1") if name == "revoke" else ac.IssueToken("t1", "x", role, "h")
        try:
            events = ac.decide(command, state, At(NOW))
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
