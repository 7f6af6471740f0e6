"""What the auth domain does: accounts, sessions (JWT pairs with rotating refresh families),
token and API-key authentication, org API keys.

Request-path functions take the request's session and only flush. ``refresh`` and
``authenticate_access_token`` open their own sessions: a detected refresh-token reuse must
revoke its family durably even though the request itself fails, and the WebSocket/SSE
handshakes have no request session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tokenomist.auth import api_keys, passwords, revocation, throttle, tokens
from tokenomist.auth import repository as repo
from tokenomist.auth.models import ApiKey, Org, RefreshToken, User
from tokenomist.auth.principal import SCOPES, Principal
from tokenomist.auth.schemas import normalize_email
from tokenomist.kit import db
from tokenomist.kit.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from tokenomist.kit.resources import Resources

INVALID_CREDENTIALS = "email or password is incorrect"
API_KEY_TOUCH_INTERVAL_S = 60  # last_used_at is written at most this often per key


@dataclass(frozen=True)
class TokenPair:
    access: tokens.IssuedToken
    refresh: tokens.IssuedToken


def _now() -> datetime:
    return datetime.now(UTC)


def check_password_policy(password: str, email: str) -> None:
    problem = passwords.policy_violation(password, email)
    if problem:
        raise Unprocessable(
            problem, code="weak_password", details=[{"field": "password", "message": problem}]
        )


# --- accounts ---


async def ensure_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    org_name: str | None = None,
    name: str | None = None,
) -> tuple[User, Org]:
    """Create the user if absent and return it with its org; an existing user is returned
    unchanged (its password is not touched). With ``org_name`` the user joins the oldest org of
    that name as a member, or founds it as owner; without, it gets a personal org."""
    email = normalize_email(email)
    existing = await repo.get_user_by_email(session, email)
    if existing is not None:
        return existing, existing.org
    check_password_policy(password, email)
    org = await repo.find_org_by_name(session, org_name) if org_name else None
    role = "member" if org is not None else "owner"
    if org is None:
        org = Org(name=org_name or email)
        await repo.add(session, org)
    user = User(
        email=email,
        password_hash=await passwords.hash_password(password),
        name=name,
        org_id=org.id,
        role=role,
        is_active=True,
    )
    user.org = org
    await repo.add(session, user)
    return user, org


async def register(
    resources: Resources, session: AsyncSession, *, email: str, password: str, name: str | None
) -> tuple[User, TokenPair]:
    if not resources.settings.signup_enabled:
        raise Forbidden(
            "sign-up is disabled on this server; ask an operator for an account",
            code="signup_disabled",
        )
    email = normalize_email(email)
    check_password_policy(password, email)
    if await repo.get_user_by_email(session, email) is not None:
        raise Conflict("an account with this email already exists", code="email_taken")
    try:
        user, _ = await ensure_user(session, email=email, password=password, name=name)
    except IntegrityError as exc:  # a concurrent registration of the same email won
        raise Conflict("an account with this email already exists", code="email_taken") from exc
    return user, await _issue_pair(resources, session, user, family_id=tokens.new_jti())


async def login(
    resources: Resources, session: AsyncSession, *, email: str, password: str, client_ip: str
) -> tuple[User, TokenPair]:
    email = normalize_email(email)
    cache, settings = resources.cache, resources.settings
    await throttle.check(cache, settings, email, client_ip)
    await throttle.reserve(cache, settings, email)
    user = await repo.get_user_by_email(session, email)
    ok = await passwords.verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        await throttle.record_failure(cache, settings, client_ip)
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    await throttle.record_success(cache, email)
    user.last_login_at = _now()
    await repo.delete_expired_refresh_tokens(session, user.id, user.last_login_at)
    return user, await _issue_pair(resources, session, user, family_id=tokens.new_jti())


async def get_user(session: AsyncSession, principal: Principal) -> User:
    user = await repo.get_user(session, principal.user_id or "")
    if user is None:
        raise Unauthorized("the account no longer exists", code="token_invalid")
    return user


# --- sessions ---


async def _issue_pair(
    resources: Resources, session: AsyncSession, user: User, *, family_id: str
) -> TokenPair:
    settings, secret = resources.settings, resources.jwt_secret
    access = tokens.issue(
        settings, secret, typ="access", user_id=user.id, org_id=user.org_id, family_id=family_id
    )
    refresh = tokens.issue(
        settings, secret, typ="refresh", user_id=user.id, org_id=user.org_id, family_id=family_id
    )
    await repo.add(
        session,
        RefreshToken(
            id=refresh.claims.jti,
            family_id=family_id,
            user_id=user.id,
            issued_at=refresh.claims.issued_at,
            expires_at=refresh.claims.expires_at,
        ),
    )
    return TokenPair(access=access, refresh=refresh)


async def refresh(resources: Resources, refresh_token: str) -> tuple[User, TokenPair]:
    """Rotate: the presented refresh token is spent and a new pair of the same family issued.
    Presenting a spent token again means it leaked (or a client raced itself): the whole
    family is revoked, including its newest refresh token and its live access tokens."""
    settings = resources.settings
    claims = tokens.decode(settings, resources.jwt_secret, refresh_token, expected="refresh")
    # Its own unit of work (kit.db's rule): a reused token's family revocation must be durable
    # although the request then fails, so the 401 is raised after the block has committed it.
    issued: tuple[User, TokenPair] | None = None  # None: the token was reused
    async with db.transaction(resources.sessions) as session:
        row = await repo.get_refresh_token(session, claims.jti)
        if row is None or row.user_id != claims.sub or row.family_id != claims.fam:
            raise Unauthorized(
                "refresh token is unknown", code="token_invalid", details={"reason": "unknown"}
            )
        if row.revoked_at is not None:
            raise Unauthorized("refresh token has been revoked", code="token_revoked")
        now, family_id = _now(), row.family_id
        if await repo.claim_refresh_token(session, claims.jti, now):
            user = await repo.get_user(session, claims.sub)
            if user is None or not user.is_active or user.org_id != claims.org:
                raise Unauthorized(
                    "the account no longer exists",
                    code="token_invalid",
                    details={"reason": "user"},
                )
            issued = user, await _issue_pair(resources, session, user, family_id=family_id)
        else:
            await session.rollback()  # expires ``row``: use the copied family_id from here on
            await repo.revoke_family(session, family_id, now)
    if issued is None:
        await revocation.revoke_family(resources.cache, family_id, settings.access_token_ttl_s)
        raise Unauthorized(
            "refresh token was already used; every token of this login is now revoked",
            code="refresh_token_reused",
        )
    return issued


async def logout(resources: Resources, session: AsyncSession, principal: Principal) -> None:
    """End the login the access token belongs to: this token, the other access tokens of its
    family and all its refresh tokens stop working."""
    if principal.token_id is None or principal.family_id is None or principal.expires_at is None:
        raise Forbidden("only a user access token can log out", code="user_token_required")
    await revocation.revoke_token(resources.cache, principal.token_id, principal.expires_at)
    await revocation.revoke_family(
        resources.cache, principal.family_id, resources.settings.access_token_ttl_s
    )
    await repo.revoke_family(session, principal.family_id, _now())


# --- authentication ---


async def authenticate_access_token(resources: Resources, token: str) -> Principal:
    """Full check of a user access token for callers without a request session (WebSocket
    handshake, SSE). Raises ``Unauthorized`` (``token_expired``, ``token_invalid``,
    ``token_revoked``)."""
    async with resources.sessions() as session:
        return await authenticate_user_token(resources, session, token)


async def authenticate_user_token(
    resources: Resources, session: AsyncSession, token: str
) -> Principal:
    claims = tokens.decode(resources.settings, resources.jwt_secret, token, expected="access")
    await _ensure_not_revoked(resources, session, claims.jti, claims.fam)
    user = await repo.get_user(session, claims.sub)
    # The account must still exist, be active and belong to the org the token names.
    if user is None or not user.is_active or user.org_id != claims.org:
        raise Unauthorized(
            "the account behind this token is gone or disabled",
            code="token_invalid",
            details={"reason": "user"},
        )
    return Principal(
        org_id=user.org_id,
        user_id=user.id,
        email=user.email,
        role=user.role,
        kind="user",
        scopes=SCOPES,
        expires_at=claims.expires_at,
        token_id=claims.jti,
        family_id=claims.fam,
    )


async def _ensure_not_revoked(
    resources: Resources, session: AsyncSession, jti: str, family_id: str
) -> None:
    # The cache tier answers first (and alone knows single revoked tokens); the SQL family
    # state is what survives a restart of the in-process cache or a Redis outage: a logout
    # must not be forgotten (that would fail open).
    if await revocation.is_revoked(resources.cache, jti, family_id) or await repo.family_revoked(
        session, family_id
    ):
        raise Unauthorized("token has been revoked", code="token_revoked")


async def ensure_still_valid(resources: Resources, principal: Principal) -> None:
    """Re-check a user principal authenticated earlier, for a long-lived connection (the
    WebSocket): raises ``Unauthorized`` once its login was ended (``token_revoked``) or its
    account removed or disabled (``token_invalid``), as a new handshake would."""
    if principal.token_id is None or principal.family_id is None:
        raise Unauthorized("a user access token is required", code="token_invalid")
    async with resources.sessions() as session:
        await _ensure_not_revoked(resources, session, principal.token_id, principal.family_id)
        user = await repo.get_user(session, principal.user_id or "")
        if user is None or not user.is_active or user.org_id != principal.org_id:
            raise Unauthorized(
                "the account behind this token is gone or disabled", code="token_invalid"
            )


async def authenticate_api_key(resources: Resources, session: AsyncSession, key: str) -> Principal:
    row = await repo.get_api_key_by_hash(session, api_keys.hash_key(key))
    if row is None:
        raise Unauthorized("API key is unknown or revoked", code="invalid_api_key")
    if await resources.cache.set_if_absent(
        f"auth:key-touched:{row.id}", "1", ttl_s=API_KEY_TOUCH_INTERVAL_S
    ):
        await repo.touch_api_key(session, row.id, _now())
    return Principal(
        org_id=row.org_id,
        user_id=None,
        email=None,
        role=None,
        kind="api_key",
        scopes=frozenset(row.scopes) & SCOPES,
        expires_at=None,
        api_key_id=row.id,
    )


# --- org API keys ---


async def create_api_key(
    session: AsyncSession, principal: Principal, *, name: str, scopes: list[str]
) -> tuple[ApiKey, str]:
    """A new key for the caller's org; returns the row and the secret (never stored)."""
    _require_owner(principal)
    key, prefix, secret_hash = api_keys.generate()
    row = ApiKey(
        org_id=principal.org_id,
        created_by=principal.user_id,
        name=name,
        prefix=prefix,
        secret_hash=secret_hash,
        scopes=sorted(set(scopes)),
    )
    await repo.add(session, row)
    return row, key


async def list_api_keys(session: AsyncSession, principal: Principal) -> list[ApiKey]:
    return await repo.list_api_keys(session, principal.org_id)


async def delete_api_key(session: AsyncSession, principal: Principal, key_id: str) -> None:
    _require_owner(principal)
    row = await repo.get_api_key(session, principal.org_id, key_id)
    if row is None:
        # Another org's key is "not found" too: its existence is none of the caller's business.
        raise NotFound(f"API key {key_id} not found", code="not_found")
    row.revoked_at = _now()
    await session.flush()


def _require_owner(principal: Principal) -> None:
    if principal.role != "owner":
        raise Forbidden("only an org owner can create or delete API keys", code="owner_required")
