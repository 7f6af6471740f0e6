"""Register, login, me, validate, refresh, logout over real HTTP on both SQL backends, and the
tokens that must be refused."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from tests.auth.support import (
    PASSWORD,
    bearer,
    claims_of,
    error_code,
    error_reason,
    fresh_payload,
    register,
    unique_email,
    unsigned_token,
)
from tests.support.servers import live_server

# Forging an HS512 token with the (HS256-sized) test secret is the point of one case.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


@pytest.fixture
async def client(server) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


async def test_register_returns_user_with_personal_org_and_a_token_pair(server, client) -> None:
    email = unique_email("reg")
    body = await register(client, email.upper(), name="Ada")
    assert set(body) == {"user", "access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == server.settings.access_token_ttl_s
    user = body["user"]
    assert (user["email"], user["name"], user["role"]) == (email, "Ada", "owner")
    assert user["org"]["name"] == email and len(user["org"]["id"]) == 32
    access, refresh = claims_of(body["access_token"]), claims_of(body["refresh_token"])
    assert (access["typ"], refresh["typ"]) == ("access", "refresh")
    assert access["sub"] == user["id"] and access["org"] == user["org"]["id"]
    assert access["fam"] == refresh["fam"] and access["jti"] != refresh["jti"]
    assert (access["iss"], access["aud"]) == ("tokenomist", "tokenomist-api")


async def test_login_me_and_validate_happy_path(client) -> None:
    email = unique_email("login")
    registered = await register(client, email)
    login = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    assert login.json()["user"] == registered["user"]
    token = login.json()["access_token"]

    me = await client.get("/auth/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json() == registered["user"]

    by_header = await client.post("/auth/validate-token-and-get-user", headers=bearer(token))
    by_body = await client.post("/auth/validate-token-and-get-user", json={"token": token})
    for response in (by_header, by_body):
        assert response.status_code == 200
        assert response.json()["valid"] is True
        assert response.json()["user"] == registered["user"]
        expires = claims_of(token)["exp"]
        assert response.json()["expires_at"] == time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)
        )


async def test_duplicate_email_is_409_whatever_its_case(client) -> None:
    email = unique_email("dup")
    await register(client, email)
    response = await client.post(
        "/auth/register", json={"email": email.upper(), "password": "another good one"}
    )
    assert response.status_code == 409
    assert error_code(response) == "email_taken"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "password must be at least 10 characters"),
        (None, "password must not be the email address"),  # the email itself
    ],
)
async def test_weak_password_is_422_naming_the_field(client, password, message) -> None:
    email = unique_email("weak")
    response = await client.post(
        "/auth/register", json={"email": email, "password": password or email}
    )
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "weak_password",
        "message": message,
        "details": [{"field": "password", "message": message}],
    }
    login = await client.post("/auth/login", json={"email": email, "password": password or email})
    assert login.status_code == 401  # nothing was created


async def test_malformed_email_is_422_naming_the_field(client) -> None:
    response = await client.post(
        "/auth/register", json={"email": "not-an-email", "password": PASSWORD}
    )
    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert response.json()["error"]["details"][0]["field"] == "email"


async def test_unknown_email_and_wrong_password_get_the_same_401(client) -> None:
    email = unique_email("same")
    await register(client, email)
    wrong = await client.post("/auth/login", json={"email": email, "password": "wrong password!"})
    unknown = await client.post(
        "/auth/login", json={"email": unique_email("nobody"), "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {"error": {"code": "invalid_credentials", "message": "email or password is incorrect"}}
    )


async def test_me_without_token_is_401_with_a_challenge(client) -> None:
    response = await client.get("/auth/me")
    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("variant", "code", "reason"),
    [
        ("alg-none", "token_invalid", "algorithm_not_allowed"),
        ("alg-rs256", "token_invalid", "algorithm_not_allowed"),
        ("alg-hs512", "token_invalid", "algorithm_not_allowed"),
        ("wrong-signature", "token_invalid", "bad_signature"),
        ("expired", "token_expired", None),
        ("wrong-issuer", "token_invalid", "wrong_issuer"),
        ("wrong-audience", "token_invalid", "wrong_audience"),
        ("refresh-as-access", "token_invalid", "wrong_token_type"),
        ("unknown-user", "token_invalid", "user"),
        ("other-org", "token_invalid", "user"),
    ],
)
async def test_forged_or_misused_tokens_are_refused(server, client, variant, code, reason) -> None:
    body = await register(client)
    template = claims_of(body["access_token"])
    secret = server.settings.jwt_secret
    now = int(time.time())
    token = {
        "alg-none": lambda: unsigned_token(fresh_payload(template), "none"),
        "alg-rs256": lambda: unsigned_token(fresh_payload(template), "RS256"),
        "alg-hs512": lambda: jwt.encode(fresh_payload(template), secret, algorithm="HS512"),
        "wrong-signature": lambda: jwt.encode(fresh_payload(template), "z" * 48),
        "expired": lambda: jwt.encode(
            fresh_payload(template, iat=now - 1000, exp=now - 60), secret
        ),
        "wrong-issuer": lambda: jwt.encode(fresh_payload(template, iss="someone-else"), secret),
        "wrong-audience": lambda: jwt.encode(fresh_payload(template, aud="another-api"), secret),
        "refresh-as-access": lambda: body["refresh_token"],
        "unknown-user": lambda: jwt.encode(fresh_payload(template, sub="0" * 32), secret),
        "other-org": lambda: jwt.encode(fresh_payload(template, org="f" * 32), secret),
    }[variant]()

    me = await client.get("/auth/me", headers=bearer(token))
    assert me.status_code == 401
    assert error_code(me) == code
    assert error_reason(me) == reason

    validate = await client.post("/auth/validate-token-and-get-user", json={"token": token})
    assert validate.status_code == 401
    assert validate.json()["valid"] is False
    assert validate.json()["error"]["code"] == code

    # The genuine token still works: the refusals are about the variants, not the account.
    assert (await client.get("/auth/me", headers=bearer(body["access_token"]))).status_code == 200


async def test_validate_without_any_token_is_401_valid_false(client) -> None:
    response = await client.post("/auth/validate-token-and-get-user")
    assert response.status_code == 401
    assert response.json() == {
        "valid": False,
        "error": {
            "code": "not_authenticated",
            "message": "no token given (Bearer header or {token})",
        },
    }


async def test_refresh_rotates_the_pair(client) -> None:
    body = await register(client)
    response = await client.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["user"] == body["user"]
    assert rotated["refresh_token"] != body["refresh_token"]
    assert claims_of(rotated["refresh_token"])["fam"] == claims_of(body["refresh_token"])["fam"]
    me = await client.get("/auth/me", headers=bearer(rotated["access_token"]))
    assert me.status_code == 200


async def test_access_token_is_refused_as_refresh_token(client) -> None:
    body = await register(client)
    response = await client.post("/auth/refresh", json={"refresh_token": body["access_token"]})
    assert response.status_code == 401
    assert (error_code(response), error_reason(response)) == ("token_invalid", "wrong_token_type")


async def test_logout_refuses_that_access_token_and_its_refresh_token(client) -> None:
    body = await register(client)
    token = body["access_token"]
    logout = await client.post("/auth/logout", headers=bearer(token))
    assert logout.status_code == 204
    assert logout.content == b""

    me = await client.get("/auth/me", headers=bearer(token))
    assert me.status_code == 401
    assert error_code(me) == "token_revoked"
    validate = await client.post("/auth/validate-token-and-get-user", headers=bearer(token))
    assert (validate.status_code, validate.json()["error"]["code"]) == (401, "token_revoked")
    again = await client.post("/auth/logout", headers=bearer(token))
    assert (again.status_code, error_code(again)) == (401, "token_revoked")

    refresh = await client.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refresh.status_code == 401
    assert error_code(refresh) == "token_revoked"

    # Logging in again opens a new, working session.
    login = await client.post(
        "/auth/login", json={"email": body["user"]["email"], "password": PASSWORD}
    )
    assert login.status_code == 200
    fresh = bearer(login.json()["access_token"])
    assert (await client.get("/auth/me", headers=fresh)).status_code == 200


async def test_logout_of_one_session_leaves_the_others(client) -> None:
    first = await register(client)
    second = await client.post(
        "/auth/login", json={"email": first["user"]["email"], "password": PASSWORD}
    )
    logout = await client.post("/auth/logout", headers=bearer(first["access_token"]))
    assert logout.status_code == 204
    me = await client.get("/auth/me", headers=bearer(second.json()["access_token"]))
    assert me.status_code == 200


@pytest.mark.parametrize(
    "email",
    [
        '"\' OR 1=1 --"@x.io',
        '"robert\'); DROP TABLE users;--"@x.io',
        "admin'--@example.com",
        "Ünïcødé.名前@例え.jp",
        "%00%27@example.com",
    ],
)
async def test_injection_shaped_and_unicode_emails_are_just_data(client, email) -> None:
    bystander = await register(client)
    body = await register(client, email)
    stored = body["user"]["email"]
    assert stored == email.lower()
    login = await client.post("/auth/login", json={"email": email.upper(), "password": PASSWORD})
    assert login.status_code == 200
    assert login.json()["user"]["id"] == body["user"]["id"]
    me = await client.get("/auth/me", headers=bearer(login.json()["access_token"]))
    assert me.json()["email"] == stored
    # Nothing was interpreted: a tautology does not log in as anyone, other accounts stand.
    tautology = await client.post(
        "/auth/login", json={"email": "' OR '1'='1", "password": "' OR '1'='1"}
    )
    assert (tautology.status_code, error_code(tautology)) == (401, "invalid_credentials")
    other = await client.post(
        "/auth/login", json={"email": bystander["user"]["email"], "password": PASSWORD}
    )
    assert other.status_code == 200


async def test_signup_disabled_is_403_and_login_still_works(make_settings, sql_backend) -> None:
    open_settings = make_settings(sql=sql_backend)
    async with live_server(open_settings) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        existing = await register(c)
    closed = make_settings(sql=sql_backend, signup_enabled=False)
    async with live_server(closed) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        response = await c.post(
            "/auth/register", json={"email": unique_email(), "password": PASSWORD}
        )
        assert response.status_code == 403
        assert error_code(response) == "signup_disabled"
        login = await c.post(
            "/auth/login", json={"email": existing["user"]["email"], "password": PASSWORD}
        )
        assert login.status_code == 200


async def test_authenticate_access_token_for_handshakes(server, client) -> None:
    """The entry point the WebSocket and SSE handshakes use (no request session)."""
    from tokenomist.auth.service import authenticate_access_token
    from tokenomist.kit.errors import Unauthorized

    body = await register(client)
    principal = await authenticate_access_token(server.resources, body["access_token"])
    assert (principal.kind, principal.user_id, principal.org_id, principal.email) == (
        "user",
        body["user"]["id"],
        body["user"]["org"]["id"],
        body["user"]["email"],
    )
    assert principal.role == "owner" and principal.scopes == frozenset({"ingest", "read"})
    assert int(principal.expires_at.timestamp()) == claims_of(body["access_token"])["exp"]

    for token, code in ((body["refresh_token"], "token_invalid"), ("x.y.z", "token_invalid")):
        with pytest.raises(Unauthorized) as info:
            await authenticate_access_token(server.resources, token)
        assert info.value.code == code
    await client.post("/auth/logout", headers=bearer(body["access_token"]))
    with pytest.raises(Unauthorized) as info:
        await authenticate_access_token(server.resources, body["access_token"])
    assert info.value.code == "token_revoked"


async def test_expired_refresh_token_is_refused_and_its_row_pruned_at_login(server, client):
    from datetime import UTC, datetime, timedelta

    from tokenomist.auth.models import RefreshToken

    body = await register(client)
    template = claims_of(body["refresh_token"])
    now = int(time.time())
    expired = jwt.encode(
        fresh_payload(template, iat=now - 2000, exp=now - 60), server.settings.jwt_secret
    )
    response = await client.post("/auth/refresh", json={"refresh_token": expired})
    assert (response.status_code, error_code(response)) == (401, "token_expired")

    stale_id = "e" * 32
    async with server.resources.sessions() as session:
        session.add(
            RefreshToken(
                id=stale_id,
                family_id="f" * 32,
                user_id=body["user"]["id"],
                issued_at=datetime.now(UTC) - timedelta(days=30),
                expires_at=datetime.now(UTC) - timedelta(days=1),
            )
        )
        await session.commit()
    login = await client.post(
        "/auth/login", json={"email": body["user"]["email"], "password": PASSWORD}
    )
    assert login.status_code == 200
    async with server.resources.sessions() as session:
        assert await session.get(RefreshToken, stale_id) is None
        live = await session.get(RefreshToken, claims_of(body["refresh_token"])["jti"])
        assert live is not None  # unexpired tokens stay (reuse detection needs them)
