"""Tokens: administrators issue and revoke bearer tokens for people and services."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cora_bluesky.application.codec import encode
from cora_bluesky.application.record import Record
from cora_bluesky.domain import errors as e
from cora_bluesky.domain.access import TokenState
from cora_bluesky.server.auth import administrator
from cora_bluesky.server.errors import responses
from cora_bluesky.server.routes.common import Paging, PathId
from cora_bluesky.application.messages import IssueTokenIn
from cora_bluesky.application.responses import PageOut, TokenIssuedOut, TokenOut

router = APIRouter(prefix="/tokens", tags=["tokens"])


def shown(token: TokenState) -> dict[str, Any]:
    """A token as served: never its hash."""
    return {key: value for key, value in encode(token).items() if key != "secret_hash"}


@router.post(
    "",
    status_code=201,
    response_model=TokenIssuedOut,
    responses=responses(e.InvalidTokenPrincipalError, e.InvalidTokenRoleError),
)
def issue_token(body: IssueTokenIn, record: Record = administrator) -> dict[str, Any]:
    """Issue a token; its secret is in this response only.

    Not behind Idempotency-Key: keeping the response to replay it would keep the secret.
    """
    token, secret = record.issue_token(principal=body.principal, role=body.role)
    return {**shown(token), "token": secret}


@router.get("", response_model=PageOut[TokenOut], responses=responses(e.InvalidCursorError))
def list_tokens(paging: Paging, record: Record = administrator) -> dict[str, Any]:
    found = record.list_tokens(limit=paging.limit, cursor=paging.cursor)
    return {"items": [shown(token) for token in found.items], "next": found.next}


@router.post(
    "/{token_id}/revoke", response_model=TokenOut, responses=responses(e.TokenNotFoundError, e.TokenCannotRevokeError)
)
def revoke_token(token_id: PathId, record: Record = administrator) -> dict[str, Any]:
    """Revoke a token: it authenticates nothing from now on."""
    return shown(record.revoke_token(token_id))
