"""The principal decider: one set of roles, changed only by a recorded change by someone else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import NOW

from cora_bluesky.domain import errors as e
from cora_bluesky.domain import principal as pr
from cora_bluesky.domain.access import Role

ROLES = [role.value for role in Role]
BY_ADMIN = pr.PrincipalContext(NOW, "admin-1")


def registered(*roles: str) -> pr.PrincipalState:
    (event,) = pr.decide(pr.RegisterPrincipal("ana", roles), None, BY_ADMIN)
    return pr.evolve(None, event)


def test_register_keeps_the_roles_in_a_fixed_order():
    assert registered("admin", "viewer").roles == (Role.VIEWER, Role.ADMIN)


@pytest.mark.parametrize(
    "command, state, actor, error",
    [
        (pr.RegisterPrincipal("", ()), None, "admin-1", e.InvalidPrincipalNameError),
        (pr.RegisterPrincipal("ana smith", ()), None, "admin-1", e.InvalidPrincipalNameError),
        (pr.RegisterPrincipal("ana\ud800", ()), None, "admin-1", e.InvalidPrincipalNameError),
        (pr.RegisterPrincipal("ana", ("root",)), None, "admin-1", e.InvalidPrincipalRolesError),
        (pr.RegisterPrincipal("ana", ("viewer", "viewer")), None, "admin-1", e.InvalidPrincipalRolesError),
        (pr.RegisterPrincipal("ana", ("operator", "safety")), None, "admin-1", e.InvalidPrincipalRolesError),
        (pr.RegisterPrincipal("ana", "viewer"), None, "admin-1", e.InvalidPrincipalRolesError),
        (pr.RegisterPrincipal("ana", ()), "registered", "admin-1", e.PrincipalAlreadyExistsError),
        (pr.ChangePrincipalRoles("bo", ("viewer",)), None, "admin-1", e.PrincipalNotFoundError),
        (pr.ChangePrincipalRoles("ana", ("admin", "safety")), "registered", "ana", e.PrincipalCannotChangeOwnRolesError),
        (pr.ChangePrincipalRoles("ana", ("operator",)), "registered", "admin-1", e.PrincipalRolesUnchangedError),
    ],
)
def test_every_refusal_is_named(command, state, actor, error):
    current = registered("operator") if state == "registered" else None
    with pytest.raises(error):
        pr.decide(command, current, pr.PrincipalContext(NOW, actor))


role_sets = st.lists(st.sampled_from(ROLES + ["root"]), max_size=5)
commands = st.one_of(
    st.builds(lambda roles: pr.RegisterPrincipal("ana", tuple(roles)), role_sets),
    st.builds(lambda roles, actor: (pr.ChangePrincipalRoles("ana", tuple(roles)), actor),
              role_sets, st.sampled_from(["admin-1", "ana"])),
)


@given(st.lists(commands, max_size=12))
def test_roles_change_only_by_recorded_changes_and_never_join_operator_and_safety(steps):
    state, log = None, []
    for step in steps:
        command, actor = step if isinstance(step, tuple) else (step, "admin-1")
        try:
            events = pr.decide(command, state, pr.PrincipalContext(NOW, actor))
        except e.CoraError as refusal:
            assert type(refusal).__name__.startswith(("Principal", "InvalidPrincipal")), refusal
            continue
        before = state
        for event in events:
            state = pr.evolve(state, event)
        log.extend(events)
        assert not pr.EXCLUSIVE <= set(state.roles)
        if before is not None:
            assert actor != "ana" and state.roles != before.roles
    # replaying the log gives the same principal
    replayed = None
    for event in log:
        replayed = pr.evolve(replayed, event)
    assert replayed == state
