"""Reusable request dependencies: who is calling, and may they do this.

- ``CurrentUser``: a valid user access token (``Authorization: Bearer <JWT>``) only.
- ``OrgScope``: a user access token or an org API key (``Authorization: Bearer <key>`` or
  ``X-API-Key: <key>``). Every org-owned query uses ``principal.org_id`` from here.
- ``require_scope("ingest")``: an ``OrgScope`` whose credential carries that scope (user tokens
  carry every scope; API keys only those they were created with).

Everything fails closed: no credential, or any doubt about it, is a 401.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tokenomist.auth import api_keys, service
from tokenomist.auth.principal import SCOPES, Principal
from tokenomist.kit.db import SessionDep
from tokenomist.kit.errors import BadRequest, Forbidden, Unauthorized
from tokenomist.kit.resources import ResourcesDep

__all__ = ["CurrentUser", "OrgScope", "Principal", "require_scope"]

bearer_scheme = HTTPBearer(auto_error=False, description="A user access token or an org API key.")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An org API key.")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tokenomist"'}


def _challenged(exc: Unauthorized) -> Unauthorized:
    exc.headers = {**_CHALLENGE, **(exc.headers or {})}
    return exc


def _missing(what: str) -> Unauthorized:
    return _challenged(Unauthorized(f"{what} is required", code="not_authenticated"))


async def _current_user(
    resources: ResourcesDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    if credentials is None:
        raise _missing("a user access token (Authorization: Bearer <token>)")
    token = credentials.credentials
    try:
        if api_keys.looks_like_key(token):
            await service.authenticate_api_key(resources, session, token)
            raise Forbidden(
                "this endpoint needs a user access token; API keys are not accepted here",
                code="user_token_required",
            )
        return await service.authenticate_user_token(resources, session, token)
    except Unauthorized as exc:
        raise _challenged(exc) from None


async def _org_principal(
    resources: ResourcesDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    x_api_key: Annotated[str | None, Security(_api_key_header)],
) -> Principal:
    if credentials is not None and x_api_key:
        raise BadRequest(
            "send one credential: Authorization or X-API-Key, not both",
            code="ambiguous_credentials",
        )
    try:
        if x_api_key:
            return await service.authenticate_api_key(resources, session, x_api_key)
        if credentials is None:
            raise _missing("a user access token or an org API key")
        token = credentials.credentials
        if api_keys.looks_like_key(token):
            return await service.authenticate_api_key(resources, session, token)
        return await service.authenticate_user_token(resources, session, token)
    except Unauthorized as exc:
        raise _challenged(exc) from None


CurrentUser = Annotated[Principal, Depends(_current_user)]
OrgScope = Annotated[Principal, Depends(_org_principal)]


def require_scope(scope: str):
    """A dependency returning the ``OrgScope`` principal if its credential has ``scope``,
    else 403 ``insufficient_scope``."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; known: {sorted(SCOPES)}")

    async def _dependency(principal: OrgScope) -> Principal:
        if scope not in principal.scopes:
            raise Forbidden(
                f"this credential lacks the {scope!r} scope",
                code="insufficient_scope",
                details={"required": scope, "granted": sorted(principal.scopes)},
            )
        return principal

    return _dependency
