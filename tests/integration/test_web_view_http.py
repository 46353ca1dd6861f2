"""The web view's edges over HTTP, on every store: sign-in, the role check of a review, its origin."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

COOKIE = "cora_view_token"


def _pending(served) -> str:
    made = served.call("POST", "/clearances", json={"form_type": "aps-esaf", "title": "ESAF 314159",
                                                        "subject_ids": [served.ids.subject]})
    assert made.status_code == 201, made.text
    assert served.call("POST", f"/clearances/{made.json()['id']}/submit").status_code == 200
    return made.json()["id"]


def _as(served, role: str | None) -> None:
    served.client.cookies.clear()
    if role is not None:
        served.client.cookies.set(COOKIE, served.tokens[role], path="/view")


def test_a_page_without_a_token_sends_the_viewer_to_sign_in_and_back(served):
    _as(served, None)
    answer = served.client.get("/view/gates?x=1", follow_redirects=False)
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert location.path == "/view/sign-in" and parse_qs(location.query)["next"] == ["/view/gates?x=1"]
    signed = served.client.post("/view/sign-in", data={"token": served.tokens["viewer"], "next": "/view/gates?x=1"},
                                follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/view/gates?x=1"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/view" in cookie


def test_sign_in_goes_nowhere_but_the_view(served):
    _as(served, None)
    for elsewhere in ("https://example.org/", "//example.org/view/", "/docs"):
        signed = served.client.post("/view/sign-in", data={"token": served.tokens["viewer"], "next": elsewhere},
                                    follow_redirects=False)
        assert signed.headers["location"] == "/view/runs", elsewhere


def test_a_revoked_token_is_signed_out_on_its_next_page(served):
    served.record.register_principal(principal_id="leaving-1", roles=["viewer"])
    token = served.record.issue_token(principal="leaving-1", role="viewer")
    served.client.cookies.set(COOKIE, token[1], path="/view")
    assert served.client.get("/view/runs").status_code == 200
    served.record.revoke_token(token[0].id)
    answer = served.client.get("/view/runs", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/view/sign-in")


def test_a_viewer_posting_a_review_is_refused_and_nothing_is_written(served):
    clearance_id = _pending(served)
    _as(served, "viewer")
    answer = served.client.post(f"/view/gates/clearances/{clearance_id}/start_clearance_review", follow_redirects=False)
    assert answer.status_code == 403 and "Forbidden" in answer.text
    assert served.record.get_clearance(clearance_id).status == "Submitted"


def test_a_safety_officer_reviews_through_the_slice_and_its_refusals(served):
    clearance_id = _pending(served)
    _as(served, "safety")
    board = served.client.get("/view/gates")
    assert board.status_code == 200 and f"/view/gates/clearances/{clearance_id}/reject_clearance" in board.text
    blank = served.client.post(f"/view/gates/clearances/{clearance_id}/reject_clearance", data={"reason": ""})
    assert blank.status_code == 422 and "reason" in blank.text
    early = served.client.post(f"/view/gates/clearances/{clearance_id}/approve_clearance")
    assert early.status_code == 409 and "ClearanceCannotApprove" in early.text
    rejected = served.client.post(f"/view/gates/clearances/{clearance_id}/reject_clearance",
                                  data={"reason": "hazards not described"}, follow_redirects=False)
    assert rejected.status_code == 303
    state = served.record.get_clearance(clearance_id)
    assert state.status == "Rejected" and state.last_reason == "hazards not described"
    assert served.record.timeline("clearance", clearance_id)[-1].actor == "safety-1"


def test_a_review_posted_from_another_origin_is_refused(served):
    clearance_id = _pending(served)
    _as(served, "safety")
    answer = served.client.post(f"/view/gates/clearances/{clearance_id}/start_clearance_review",
                                headers={"Origin": "https://elsewhere.example"}, follow_redirects=False)
    assert answer.status_code == 403
    assert served.record.get_clearance(clearance_id).status == "Submitted"


def test_only_clearance_transitions_are_posted_from_the_board(served):
    _as(served, "safety")
    run_verb = served.client.post("/view/gates/clearances/x/hold_run")
    assert run_verb.status_code == 404


def test_an_unknown_run_is_a_page_naming_the_refusal(served):
    _as(served, "viewer")
    answer = served.client.get("/view/runs/no-such-run")
    assert answer.status_code == 404 and "RunNotFound" in answer.text


def test_the_stylesheet_is_served_and_nothing_else_from_its_folder(served):
    _as(served, None)
    assert served.client.get("/view/static/view.css").status_code == 200
    assert served.client.get("/view/static/..%2Fpages.py").status_code == 404
