"""Bearer tokens and roles on every path: 401 without a valid token, 403 for the wrong role."""

from __future__ import annotations

import pytest

from cora_bluesky.application.slices import SERVED as SLICES
from cora_bluesky.domain.access import GRANTS

READ = {"viewer", "operator", "safety", "admin"}
OPERATOR, SAFETY, ADMIN = {"operator"}, {"safety"}, {"admin"}
FILER = {"operator", "safety"}

#: (method, path) -> the roles allowed; written out here, not derived from the app
ALLOWED = {
    ("POST", "/runs"): OPERATOR,
    **{
        ("POST", f"/runs/{{run_id}}/{verb}"): OPERATOR
        for verb in ("hold", "resume", "complete", "abort", "stop", "truncate", "adjust", "readings")
    },
    ("POST", "/procedures"): OPERATOR,
    **{
        ("POST", f"/procedures/{{procedure_id}}/{verb}"): OPERATOR
        for verb in ("start", "complete", "abort", "truncate", "steps")
    },
    ("POST", "/clearances"): FILER,
    ("POST", "/clearances/{clearance_id}/bind"): FILER,
    ("POST", "/clearances/{clearance_id}/submit"): FILER,
    **{
        ("POST", f"/clearances/{{clearance_id}}/{verb}"): SAFETY
        for verb in ("start-review", "approve", "reject", "activate", "expire", "supersede")
    },
    ("POST", "/enclosures"): ADMIN,
    ("POST", "/assets"): ADMIN,
    ("POST", "/assets/{asset_id}/decommission"): ADMIN,
    ("POST", "/assets/{asset_id}/move"): ADMIN,
    ("POST", "/calibrations"): OPERATOR,
    ("POST", "/subjects"): OPERATOR,
    **{("POST", f"/subjects/{{subject_id}}/{verb}"): OPERATOR for verb in ("mount", "measured", "unmount")},
    ("POST", "/methods"): ADMIN,
    ("POST", "/plans"): ADMIN,
    ("POST", "/plans/{plan_id}/deprecate"): ADMIN,
    ("POST", "/plans/{plan_id}/revise"): ADMIN,
    ("POST", "/methods/{method_id}/revise"): ADMIN,
    ("POST", "/enclosures/{enclosure_id}/pvs"): ADMIN,
    ("POST", "/assets/{asset_id}/devices"): ADMIN,
    ("POST", "/assets/{asset_id}/family"): ADMIN,
    ("POST", "/tokens"): ADMIN,
    ("GET", "/tokens"): ADMIN,
    ("POST", "/tokens/{token_id}/revoke"): ADMIN,
    ("POST", "/principals"): ADMIN,
    ("POST", "/principals/{principal_id}/roles"): ADMIN,
}
OPEN = {("GET", "/health")}


def _served(app) -> set[tuple[str, str]]:
    """What the app answers, read from its OpenAPI document: routers nested or wrapped by
    whatever FastAPI version is installed still list every operation there."""
    return {(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item}


def _routes(app):
    """Every slice's route, after checking the app serves exactly those (and the open ones)."""
    routes = [(row.method, row.path) for row in SLICES]
    assert len(routes) == len(set(routes)) == len(SLICES)
    assert _served(app) == set(routes) | OPEN
    return routes


def _concrete(path: str) -> str:
    return path.replace("{", "x-").replace("}", "")


def test_every_route_is_in_the_table(served):
    seen = 0
    for method, path in _routes(served.app):
        assert (method, path) in ALLOWED or method == "GET", (method, path)
        seen += 1
    assert seen == len(SLICES)


def test_each_slice_needs_the_roles_written_out_here():
    """The slice table's duty and this file's independent table agree on every row."""
    for row in SLICES:
        roles = {role.value for role, duties in GRANTS.items() if row.duty in duties}
        assert roles == ALLOWED.get((row.method, row.path), READ), row.tool


@pytest.mark.parametrize("role", ["viewer", "operator", "safety", "admin"])
def test_each_role_reaches_exactly_its_paths(served, role):
    reached = refused = 0
    for method, path in _routes(served.app):
        allowed = ALLOWED.get((method, path), READ)
        answer = served.call(method, _concrete(path), role, json={}, key=True)
        if role in allowed:
            assert answer.status_code not in (401, 403), (role, method, path, answer.text)
            reached += 1
        else:
            assert (answer.status_code, answer.json()["error"]) == (403, "Forbidden"), (role, method, path)
            assert role in answer.json()["message"] and answer.json()["needs"] == sorted(allowed)
            refused += 1
    assert reached + refused == len(SLICES) and reached > 0


def test_without_a_valid_token_every_path_is_401(served):
    revoked, secret = served.record.issue_token(principal="admin-1", role="admin")
    served.record.revoke_token(revoked.id)
    tried = 0
    for method, path in _routes(served.app):
        tried += 1
        for headers in (
            {},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": f"Bearer {secret}"},
            {"Authorization": f"Basic {served.tokens['admin']}"},
            {"X-Principal-Id": "admin-1"},
        ):
            answer = served.client.request(method, _concrete(path), headers=headers, json={})
            assert (answer.status_code, answer.json()["error"]) == (401, "Unauthorized"), (method, path, headers)
            assert answer.headers["www-authenticate"] == "Bearer"
    assert tried == len(SLICES)


def test_the_principal_comes_from_the_token_not_from_the_client(served):
    answer = served.call("POST", "/subjects", json={"name": "sn-1"}, headers={"X-Principal-Id": "someone-else"})
    events = served.record.history("subject", answer.json()['id'])
    assert [event.actor for event in events] == ["operator-1"]


def test_health_needs_no_token(served):
    assert served.client.get("/health").json()["status"] == "ok"


def test_tokens_over_http(served):
    registered = served.call("POST", "/principals", "admin", json={"principal_id": "beamline-portal", "roles": ["viewer"]})
    assert registered.status_code == 201, registered.text
    issued = served.call("POST", "/tokens", "admin", json={"principal": "beamline-portal", "role": "viewer"})
    assert issued.status_code == 201
    secret, token_id = issued.json()["token"], issued.json()["id"]
    assert "secret_hash" not in issued.json()
    listed = served.call("GET", "/tokens", "admin").json()["items"]
    assert token_id in [t["id"] for t in listed] and all("secret_hash" not in t for t in listed)
    assert served.client.get("/runs", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert served.call("POST", f"/tokens/{token_id}/revoke", "admin").json()["status"] == "Revoked"
    assert served.client.get("/runs", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    again = served.call("POST", f"/tokens/{token_id}/revoke", "admin")
    assert (again.status_code, again.json()["error"]) == (409, "TokenCannotRevoke")
    unknown = served.call("POST", "/tokens/nope/revoke", "admin")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "TokenNotFound")
    bad = served.call("POST", "/tokens", "admin", json={"principal": "x", "role": "root"})
    assert (bad.status_code, bad.json()["error"]) == (422, "InvalidTokenRole")


def test_an_admin_token_cannot_mint_a_safety_token_to_approve_as_someone_else(served):
    """The impersonation: an admin mints ``{"principal": "safety-1", "role": "safety"}``."""
    before = served.call("GET", "/tokens", "admin", params={"limit": 500}).json()["items"]
    minted = served.call("POST", "/tokens", "admin", json={"principal": "safety-1", "role": "safety"})
    assert (minted.status_code, minted.json()["error"]) == (409, "TokenCannotWidenIssuer"), minted.text
    assert served.call("GET", "/tokens", "admin", params={"limit": 500}).json()["items"] == before
    # nor a token for a role its principal does not hold, nor for a principal that does not exist
    widened = served.call("POST", "/tokens", "admin", json={"principal": "viewer-1", "role": "admin"})
    assert (widened.status_code, widened.json()["error"]) == (409, "TokenRoleNotHeld")
    unknown = served.call("POST", "/tokens", "admin", json={"principal": "safety-2", "role": "viewer"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "PrincipalNotFound")
    # nor can the admin grant itself the safety role
    own = served.call("POST", "/principals/admin-1/roles", "admin", json={"roles": ["admin", "safety"]})
    assert (own.status_code, own.json()["error"]) == (409, "PrincipalCannotChangeOwnRoles")


def test_a_role_removed_from_a_principal_stops_its_tokens_at_once(served):
    assert served.call("GET", "/runs", "operator").status_code == 200
    changed = served.call("POST", "/principals/operator-1/roles", "admin", json={"roles": ["viewer"]})
    assert changed.status_code == 200 and changed.json()["roles"] == ["viewer"]
    answer = served.call("POST", "/subjects", "operator", json={"name": "sn-1"})
    assert (answer.status_code, answer.json()["error"]) == (403, "Forbidden")
    assert served.call("GET", "/runs", "operator").status_code == 403  # an operator token, a viewer now


def test_an_expired_token_is_unauthorized(served, clock):
    from datetime import timedelta

    expires = (clock.current + timedelta(minutes=5)).isoformat()
    issued = served.call("POST", "/tokens", "admin", json={"principal": "viewer-1", "role": "viewer", "expires_at": expires})
    assert issued.status_code == 201 and issued.json()["expires_at"]
    headers = {"Authorization": f"Bearer {issued.json()['token']}"}
    assert served.client.get("/runs", headers=headers).status_code == 200
    clock.advance(minutes=5)
    assert served.client.get("/runs", headers=headers).status_code == 401
