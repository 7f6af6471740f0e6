"""State kept in the cache tier — revoked tokens and login-failure counts — on both cache
backends (memory, Redis) and both SQL backends, over real HTTP."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.auth.support import PASSWORD, bearer, error_code, register, unique_email
from tests.support.servers import live_server


@pytest.fixture
async def app_server(make_settings, sql_backend, cache_backend):
    async with live_server(make_settings(sql=sql_backend, cache=cache_backend)) as srv:
        yield srv


@pytest.fixture
async def client(app_server) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=app_server.url, timeout=30) as c:
        yield c


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def test_refresh_token_reuse_revokes_the_family(client) -> None:
    first = await register(client)
    rotated = await _refresh(client, first["refresh_token"])
    assert rotated.status_code == 200
    newer = rotated.json()
    assert (await client.get("/auth/me", headers=bearer(newer["access_token"]))).status_code == 200

    reuse = await _refresh(client, first["refresh_token"])
    assert reuse.status_code == 401
    assert error_code(reuse) == "refresh_token_reused"

    # The newest refresh token of the family and its access tokens are dead too.
    newest = await _refresh(client, newer["refresh_token"])
    assert (newest.status_code, error_code(newest)) == (401, "token_revoked")
    for token in (newer["access_token"], first["access_token"]):
        me = await client.get("/auth/me", headers=bearer(token))
        assert (me.status_code, error_code(me)) == (401, "token_revoked")

    # Another login of the same user is a different family and is unaffected.
    login = await client.post(
        "/auth/login", json={"email": first["user"]["email"], "password": PASSWORD}
    )
    assert login.status_code == 200
    assert (await _refresh(client, login.json()["refresh_token"])).status_code == 200


async def test_concurrent_rotation_of_one_refresh_token_has_one_winner(client) -> None:
    body = await register(client)
    responses = await asyncio.gather(
        _refresh(client, body["refresh_token"]), _refresh(client, body["refresh_token"])
    )
    assert sorted(r.status_code for r in responses) == [200, 401]
    winner = next(r for r in responses if r.status_code == 200).json()
    loser = next(r for r in responses if r.status_code == 401)
    assert error_code(loser) == "refresh_token_reused"
    # Reuse detected means the family is compromised: the winner's new tokens die as well.
    after = await _refresh(client, winner["refresh_token"])
    assert (after.status_code, error_code(after)) == (401, "token_revoked")


async def test_logged_out_access_token_is_refused(client) -> None:
    body = await register(client)
    token = body["access_token"]
    assert (await client.post("/auth/logout", headers=bearer(token))).status_code == 204
    me = await client.get("/auth/me", headers=bearer(token))
    assert (me.status_code, error_code(me)) == (401, "token_revoked")


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


async def test_login_throttled_per_email_then_recovers(make_settings, sql_backend, cache_backend):
    settings = make_settings(
        sql=sql_backend,
        cache=cache_backend,
        login_max_failures=3,
        login_ip_max_failures=1000,
        # Long enough that three argon2-checked failures fit in it on a loaded machine.
        login_failure_window_s=6,
    )
    async with live_server(settings) as srv, httpx.AsyncClient(base_url=srv.url) as client:
        email = unique_email("throttle")
        await register(client, email)
        bystander = unique_email("bystander")
        await register(client, bystander)
        for _ in range(3):
            wrong = await _login(client, email, "wrong password!")
            assert (wrong.status_code, error_code(wrong)) == (401, "invalid_credentials")

        blocked = await _login(client, email, PASSWORD)  # even the right password
        assert blocked.status_code == 429
        assert error_code(blocked) == "too_many_login_attempts"
        retry_after = int(blocked.headers["retry-after"])
        assert 1 <= retry_after <= 6
        # Another account from the same address is not affected by this email's count.
        assert (await _login(client, bystander, PASSWORD)).status_code == 200

        await asyncio.sleep(retry_after + 0.2)
        recovered = await _login(client, email, PASSWORD)
        assert recovered.status_code == 200


async def test_concurrent_guesses_cannot_outrun_the_per_email_limit(
    make_settings, cache_backend
) -> None:
    settings = make_settings(
        cache=cache_backend,
        login_max_failures=3,
        login_ip_max_failures=1000,
        login_failure_window_s=30,
    )
    async with live_server(settings) as srv, httpx.AsyncClient(base_url=srv.url) as client:
        email = unique_email("burst")
        await register(client, email)
        burst = await asyncio.gather(
            *(_login(client, email, f"wrong guess {i}!") for i in range(12))
        )
        codes = sorted((r.status_code, error_code(r)) for r in burst)
        # Only as many passwords are tried as the limit allows, however many arrive at once.
        assert codes == [(401, "invalid_credentials")] * 3 + [(429, "too_many_login_attempts")] * 9
        blocked = await _login(client, email, PASSWORD)
        assert (blocked.status_code, error_code(blocked)) == (429, "too_many_login_attempts")


async def test_login_throttled_per_client_ip(make_settings, sql_backend, cache_backend) -> None:
    settings = make_settings(
        sql=sql_backend,
        cache=cache_backend,
        login_max_failures=1000,
        login_ip_max_failures=4,
        # Long enough that four argon2-checked failures fit in it on a loaded machine.
        login_failure_window_s=6,
    )
    async with live_server(settings) as srv, httpx.AsyncClient(base_url=srv.url) as client:
        email = unique_email("ip")
        await register(client, email)
        for _ in range(4):  # four different unknown accounts: no single email reaches a limit
            wrong = await _login(client, unique_email("spray"), "wrong password!")
            assert wrong.status_code == 401
        blocked = await _login(client, email, PASSWORD)
        assert (blocked.status_code, error_code(blocked)) == (429, "too_many_login_attempts")
        assert int(blocked.headers["retry-after"]) in range(1, 7)
        await asyncio.sleep(int(blocked.headers["retry-after"]) + 0.2)
        assert (await _login(client, email, PASSWORD)).status_code == 200


async def test_revocation_survives_a_restart_with_redis(make_settings, sql_backend) -> None:
    settings = make_settings(sql=sql_backend, cache="redis")
    async with live_server(settings) as srv, httpx.AsyncClient(base_url=srv.url) as client:
        revoked = await register(client)
        kept = await register(client)
        assert (
            await client.post("/auth/logout", headers=bearer(revoked["access_token"]))
        ).status_code == 204

    # A second server lifetime sharing the SQL database, the secret and the Redis prefix.
    restarted = make_settings(sql=sql_backend, cache="redis")
    assert restarted.cache_prefix == settings.cache_prefix
    async with live_server(restarted) as srv, httpx.AsyncClient(base_url=srv.url) as client:
        me = await client.get("/auth/me", headers=bearer(revoked["access_token"]))
        assert (me.status_code, error_code(me)) == (401, "token_revoked")
        refresh = await _refresh(client, revoked["refresh_token"])
        assert (refresh.status_code, error_code(refresh)) == (401, "token_revoked")
        still = await client.get("/auth/me", headers=bearer(kept["access_token"]))
        assert still.status_code == 200


async def test_logout_outlives_the_cache_tier(make_settings, sql_backend) -> None:
    """The in-process cache forgets everything on restart (and is all there is while Redis is
    down): a logged-out or reuse-revoked login must stay dead anyway, because its family is
    revoked in the SQL system of record."""
    settings = make_settings(sql=sql_backend, cache="memory")
    async with live_server(settings) as srv, httpx.AsyncClient(base_url=srv.url) as client:
        logged_out = await register(client)
        reused = await register(client)
        kept = await register(client)
        assert (
            await client.post("/auth/logout", headers=bearer(logged_out["access_token"]))
        ).status_code == 204
        assert (await _refresh(client, reused["refresh_token"])).status_code == 200
        reuse = await _refresh(client, reused["refresh_token"])
        assert error_code(reuse) == "refresh_token_reused"

    restarted = make_settings(sql=sql_backend, cache="memory")
    async with live_server(restarted) as srv, httpx.AsyncClient(base_url=srv.url) as client:
        for body in (logged_out, reused):
            me = await client.get("/auth/me", headers=bearer(body["access_token"]))
            assert (me.status_code, error_code(me)) == (401, "token_revoked")
            validate = await client.post(
                "/auth/validate-token-and-get-user", json={"token": body["access_token"]}
            )
            assert validate.status_code == 401
            assert validate.json()["error"]["code"] == "token_revoked"
        still = await client.get("/auth/me", headers=bearer(kept["access_token"]))
        assert still.status_code == 200
