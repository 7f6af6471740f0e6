"""Bad frames answer an `error` frame with a documented code and leave the connection usable."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.realtime import connect_ws, recv_json, register, send_json
from tests.support.servers import live_server
from tokenomist.realtime.protocol import MAX_FRAME_BYTES, validate_server_frame


@pytest.fixture
async def srv(make_settings):
    async with live_server(make_settings(ws_rate_limit=1000)) as s:
        yield s


async def _ping_works(ws) -> None:
    await send_json(ws, {"type": "ping"})
    pong = await recv_json(ws)
    validate_server_frame(pong)
    assert pong["type"] == "pong"


async def _error(ws) -> dict:
    frame = await recv_json(ws)
    validate_server_frame(frame)
    assert frame["type"] == "error", frame
    return frame["data"]


@pytest.mark.parametrize(
    ("raw", "code", "names"),
    [
        ("this is not json", "invalid_json", "JSON"),
        ("[1, 2]", "invalid_json", "object"),
        ('{"content": "no type"}', "unknown_type", "missing"),
        ('{"type": "subscribe_all"}', "unknown_type", "subscribe_all"),
        ('{"type": "resume", "run_id": "r1"}', "invalid_frame", "after_seq"),
        ('{"type": "resume", "run_id": "r1", "after_seq": "x"}', "invalid_frame", "after_seq"),
        ('{"type": "user_message"}', "invalid_frame", "content"),
        ('{"type": "cancel"}', "invalid_frame", "run_id"),
    ],
)
async def test_bad_frame_answers_error_and_connection_stays_usable(srv, raw, code, names):
    user = await register(srv.url)
    async with connect_ws(srv.url, user.access_token) as ws:
        await recv_json(ws)
        await ws.send(raw)
        error = await _error(ws)
        assert error["code"] == code
        assert names in error["message"]
        await _ping_works(ws)


async def test_oversized_frame_is_refused_and_connection_stays_usable(srv):
    user = await register(srv.url)
    async with connect_ws(srv.url, user.access_token) as ws:
        await recv_json(ws)
        await send_json(ws, {"type": "user_message", "content": "x" * MAX_FRAME_BYTES})
        error = await _error(ws)
        assert error["code"] == "frame_too_large"
        assert str(MAX_FRAME_BYTES) in error["message"]
        await _ping_works(ws)


async def test_binary_frame_is_refused_and_connection_stays_usable(srv):
    user = await register(srv.url)
    async with connect_ws(srv.url, user.access_token) as ws:
        await recv_json(ws)
        await ws.send(json.dumps({"type": "ping"}).encode())
        assert (await _error(ws))["code"] == "binary_not_supported"
        await _ping_works(ws)


async def test_flood_is_rate_limited_then_usable_after_the_window(make_settings):
    async with live_server(make_settings(ws_rate_limit=5, ws_rate_window_s=1.0)) as srv:
        user = await register(srv.url)
        async with connect_ws(srv.url, user.access_token) as ws:
            await recv_json(ws)
            for _ in range(8):
                await send_json(ws, {"type": "ping"})
            frames = [await recv_json(ws) for _ in range(8)]
            assert [f["type"] for f in frames[:5]] == ["pong"] * 5
            assert [f["data"].get("code") for f in frames[5:]] == ["rate_limited"] * 3
            # The limit is per user: a second connection of the same user is limited too.
            async with connect_ws(srv.url, user.access_token) as other:
                await recv_json(other)
                await send_json(other, {"type": "ping"})
                limited = await _error(other)
                assert limited["code"] == "rate_limited"
            # Wait for the window to pass by watching the counter's TTL, not a fixed sleep.
            cache = srv.resources.cache
            while await cache.exists(f"ws:frames:{user.user_id}"):
                await asyncio.sleep(0.05)
            await _ping_works(ws)
