"""Authentication happens in the handshake: refused handshakes are HTTP responses with the
documented status and code, never an accepted-then-closed socket."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.env import TEST_JWT_SECRET
from tests.support.realtime import connect_ws, recv_json, register, send_json, ws_url
from tests.support.servers import live_server
from tokenomist.realtime.protocol import CLOSE_TOKEN_EXPIRED, SUBPROTOCOL


@pytest.fixture
async def srv(make_settings):
    async with live_server(make_settings(allowed_origins=["https://app.example"])) as s:
        yield s


def _claims(user, **over) -> dict:
    now = int(time.time())
    claims = {
        "sub": user.user_id,
        "org": jwt.decode(user.access_token, options={"verify_signature": False})["org"],
        "iat": now - 3600,
        "exp": now - 1800,
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "fam": uuid.uuid4().hex,
        "iss": "tokenomist",
        "aud": "tokenomist-api",
    }
    claims.update(over)
    return claims


async def _refused(url: str, **kwargs) -> tuple[int, dict]:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, open_timeout=10, **kwargs):
            pass
    response = info.value.response
    return response.status_code, json.loads(response.body or b"{}")


async def test_valid_token_in_subprotocol_selects_tokenomist_v1(srv):
    user = await register(srv.url)
    async with connect_ws(srv.url, user.access_token) as ws:
        assert ws.subprotocol == SUBPROTOCOL
        hello = await recv_json(ws)
        assert hello["type"] == "connection_established"
        assert hello["data"]["user_id"] == user.user_id
        assert hello["data"]["protocol_version"] == "1"
        assert len(hello["data"]["connection_id"]) == 32
        await send_json(ws, {"type": "ping"})
        assert (await recv_json(ws))["type"] == "pong"


async def test_authorization_header_is_accepted(srv):
    user = await register(srv.url)
    async with connect(
        ws_url(srv.url),
        subprotocols=[SUBPROTOCOL],
        additional_headers={"Authorization": f"Bearer {user.access_token}"},
    ) as ws:
        assert (await recv_json(ws))["data"]["user_id"] == user.user_id


async def test_missing_token_is_refused_with_401(srv):
    status, body = await _refused(ws_url(srv.url), subprotocols=[SUBPROTOCOL])
    assert (status, body["error"]["code"]) == (401, "missing_token")


async def test_bad_token_is_refused_with_401(srv):
    status, body = await _refused(ws_url(srv.url), subprotocols=[SUBPROTOCOL, "bearer.not-a-jwt"])
    assert (status, body["error"]["code"]) == (401, "token_invalid")


async def test_token_signed_with_another_secret_is_refused(srv):
    user = await register(srv.url)
    forged = jwt.encode(_claims(user, exp=int(time.time()) + 600), "x" * 48, algorithm="HS256")
    status, body = await _refused(ws_url(srv.url), subprotocols=[SUBPROTOCOL, f"bearer.{forged}"])
    assert (status, body["error"]["code"]) == (401, "token_invalid")


async def test_expired_token_is_refused_with_401(srv):
    user = await register(srv.url)
    expired = jwt.encode(_claims(user), TEST_JWT_SECRET, algorithm="HS256")
    status, body = await _refused(ws_url(srv.url), subprotocols=[SUBPROTOCOL, f"bearer.{expired}"])
    assert (status, body["error"]["code"]) == (401, "token_expired")


async def test_alg_none_token_is_refused_with_401(srv):
    user = await register(srv.url)
    unsigned = jwt.encode(_claims(user, exp=int(time.time()) + 600), None, algorithm="none")
    status, body = await _refused(ws_url(srv.url), subprotocols=[SUBPROTOCOL, f"bearer.{unsigned}"])
    assert (status, body["error"]["code"]) == (401, "token_invalid")


async def test_token_in_query_string_only_is_refused_with_401(srv):
    user = await register(srv.url)
    status, body = await _refused(
        ws_url(srv.url) + f"?token={user.access_token}", subprotocols=[SUBPROTOCOL]
    )
    assert (status, body["error"]["code"]) == (401, "token_in_query")


async def test_disallowed_origin_is_refused_with_403_even_with_a_valid_token(srv):
    user = await register(srv.url)
    status, body = await _refused(
        ws_url(srv.url),
        subprotocols=[SUBPROTOCOL, f"bearer.{user.access_token}"],
        origin="https://evil.example",
    )
    assert (status, body["error"]["code"]) == (403, "origin_not_allowed")
    async with connect_ws(srv.url, user.access_token, origin="https://app.example") as ws:
        assert (await recv_json(ws))["type"] == "connection_established"


async def test_the_servers_own_origin_is_allowed_on_any_port(srv):
    # The UI served at / opens /ws from the origin the server runs on (`serve --port N`),
    # which the allowlist (here only https://app.example) need not list.
    user = await register(srv.url)
    async with connect_ws(srv.url, user.access_token, origin=srv.url) as ws:
        assert (await recv_json(ws))["type"] == "connection_established"
    port = int(srv.url.rsplit(":", 1)[1])
    for other in (f"http://127.0.0.1:{port + 1}", f"http://localhost.evil.example:{port}"):
        status, body = await _refused(
            ws_url(srv.url), subprotocols=[SUBPROTOCOL, f"bearer.{user.access_token}"], origin=other
        )
        assert (status, body["error"]["code"]) == (403, "origin_not_allowed"), other


async def test_unknown_subprotocol_is_refused_with_400(srv):
    user = await register(srv.url)
    status, body = await _refused(
        ws_url(srv.url), subprotocols=["tokenomist.v0", f"bearer.{user.access_token}"]
    )
    assert (status, body["error"]["code"]) == (400, "unsupported_subprotocol")


async def test_token_expiring_mid_connection_closes_4401(make_settings):
    async with live_server(make_settings(access_token_ttl_s=2)) as srv:
        user = await register(srv.url)
        async with connect_ws(srv.url, user.access_token) as ws:
            assert (await recv_json(ws))["type"] == "connection_established"
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await recv_json(ws, timeout=10)
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == CLOSE_TOKEN_EXPIRED


async def test_idle_connection_is_closed_4408(make_settings):
    async with live_server(make_settings(ws_idle_timeout_s=0.5)) as srv:
        user = await register(srv.url)
        async with connect_ws(srv.url, user.access_token) as ws:
            await recv_json(ws)
            with pytest.raises(ConnectionClosed) as info:
                await recv_json(ws, timeout=10)
            assert info.value.rcvd.code == 4408


async def test_protocol_schema_is_published(srv):
    async with httpx.AsyncClient(base_url=srv.url) as client:
        r = await client.get("/api/v1/protocol")
    assert r.status_code == 200
    doc = r.json()
    assert doc["protocol"] == SUBPROTOCOL
    assert set(doc["client"]["discriminator"]["mapping"]) == {
        "user_message",
        "resume",
        "cancel",
        "ping",
    }
    assert "run_started" in doc["server"]["discriminator"]["mapping"]


async def _logout(base_url: str, token: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        r = await client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204


async def test_logout_closes_an_open_socket_4401_before_its_next_frame_acts(srv):
    user = await register(srv.url)
    async with connect_ws(srv.url, user.access_token) as ws:
        assert (await recv_json(ws))["type"] == "connection_established"
        await _logout(srv.url, user.access_token)
        await send_json(ws, {"type": "user_message", "content": "How can we cut our AI spend?"})
        with pytest.raises(ConnectionClosed) as info:
            frame = await recv_json(ws, timeout=10)
            pytest.fail(f"a logged-out socket still answered: {frame}")
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == CLOSE_TOKEN_EXPIRED


async def test_logout_closes_a_silent_socket_4401(srv, monkeypatch):
    from tokenomist.realtime import connection

    monkeypatch.setattr(connection, "REVOCATION_CHECK_S", 0.3)
    user = await register(srv.url)
    async with connect_ws(srv.url, user.access_token) as ws:
        assert (await recv_json(ws))["type"] == "connection_established"
        await _logout(srv.url, user.access_token)
        with pytest.raises(ConnectionClosed) as info:
            await recv_json(ws, timeout=10)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == CLOSE_TOKEN_EXPIRED


async def test_disabling_the_account_closes_its_open_socket_4401(srv):
    from sqlalchemy import update

    from tokenomist.auth.models import User

    user = await register(srv.url)
    async with connect_ws(srv.url, user.access_token) as ws:
        assert (await recv_json(ws))["type"] == "connection_established"
        async with srv.resources.sessions() as session:
            await session.execute(
                update(User).where(User.id == user.user_id).values(is_active=False)
            )
            await session.commit()
        await send_json(ws, {"type": "ping"})
        with pytest.raises(ConnectionClosed) as info:
            frame = await recv_json(ws, timeout=10)
            pytest.fail(f"a disabled account's socket still answered: {frame}")
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == CLOSE_TOKEN_EXPIRED
