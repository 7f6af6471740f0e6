"""Auth HTTP endpoints (DESIGN §4): ``/auth/*`` sessions and ``/api/v1/api-keys``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from tokenomist.auth import service
from tokenomist.auth.dependencies import CurrentUser, bearer_scheme
from tokenomist.auth.models import User
from tokenomist.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreatedOut,
    ApiKeyListOut,
    ApiKeyOut,
    LoginIn,
    RefreshIn,
    RegisterIn,
    TokenPairOut,
    UserOut,
    ValidateIn,
    ValidateOut,
)
from tokenomist.kit.db import SessionDep
from tokenomist.kit.errors import Unauthorized
from tokenomist.kit.resources import ResourcesDep

router = APIRouter(prefix="/auth", tags=["auth"])
api_keys_router = APIRouter(prefix="/api/v1/api-keys", tags=["auth"])


def _pair_out(user: User, pair: service.TokenPair) -> TokenPairOut:
    claims = pair.access.claims
    return TokenPairOut(
        user=UserOut.model_validate(user),
        access_token=pair.access.token,
        refresh_token=pair.refresh.token,
        expires_in=int((claims.expires_at - claims.issued_at).total_seconds()),
    )


def _client_ip(request: Request) -> str:
    # The socket peer. Behind a proxy, run uvicorn with --proxy-headers/--forwarded-allow-ips
    # so this is the real client; X-Forwarded-For is never trusted here (it is spoofable).
    return request.client.host if request.client else "unknown"


@router.post("/register", status_code=201)
async def register(body: RegisterIn, resources: ResourcesDep, session: SessionDep) -> TokenPairOut:
    user, pair = await service.register(
        resources,
        session,
        email=body.email,
        password=body.password,
        name=body.name,
    )
    return _pair_out(user, pair)


@router.post("/login")
async def login(
    body: LoginIn, request: Request, resources: ResourcesDep, session: SessionDep
) -> TokenPairOut:
    user, pair = await service.login(
        resources,
        session,
        email=body.email,
        password=body.password,
        client_ip=_client_ip(request),
    )
    return _pair_out(user, pair)


@router.post("/refresh")
async def refresh(body: RefreshIn, resources: ResourcesDep) -> TokenPairOut:
    user, pair = await service.refresh(resources, body.refresh_token)
    return _pair_out(user, pair)


@router.post("/logout", status_code=204)
async def logout(principal: CurrentUser, resources: ResourcesDep, session: SessionDep) -> Response:
    await service.logout(resources, session, principal)
    return Response(status_code=204)


@router.get("/me")
async def me(principal: CurrentUser, session: SessionDep) -> UserOut:
    return UserOut.model_validate(await service.get_user(session, principal))


@router.post(
    "/validate-token-and-get-user",
    responses={401: {"description": '{"valid": false, "error": {"code", "message"}}'}},
)
async def validate_token_and_get_user(
    resources: ResourcesDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    body: Annotated[ValidateIn | None, Body()] = None,
) -> ValidateOut:
    """The Bearer header wins over ``{"token"}`` in the body."""
    token = credentials.credentials if credentials else (body.token if body else None)
    try:
        if not token:
            raise Unauthorized(
                "no token given (Bearer header or {token})", code="not_authenticated"
            )
        principal = await service.authenticate_user_token(resources, session, token)
        user = await service.get_user(session, principal)
    except Unauthorized as exc:
        error = {"code": exc.code, "message": exc.message}
        if exc.details is not None:
            error["details"] = exc.details
        return JSONResponse({"valid": False, "error": error}, status_code=401)  # type: ignore[return-value]
    assert principal.expires_at is not None
    return ValidateOut(user=UserOut.model_validate(user), expires_at=principal.expires_at)


@api_keys_router.post("", status_code=201)
async def create_api_key(
    body: ApiKeyCreate, principal: CurrentUser, session: SessionDep
) -> ApiKeyCreatedOut:
    row, key = await service.create_api_key(
        session, principal, name=body.name, scopes=list(body.scopes)
    )
    return ApiKeyCreatedOut(**ApiKeyOut.model_validate(row).model_dump(), key=key)


@api_keys_router.get("")
async def list_api_keys(principal: CurrentUser, session: SessionDep) -> ApiKeyListOut:
    rows = await service.list_api_keys(session, principal)
    return ApiKeyListOut(items=[ApiKeyOut.model_validate(r) for r in rows])


@api_keys_router.delete("/{key_id}", status_code=204)
async def delete_api_key(key_id: str, principal: CurrentUser, session: SessionDep) -> Response:
    await service.delete_api_key(session, principal, key_id)
    return Response(status_code=204)
