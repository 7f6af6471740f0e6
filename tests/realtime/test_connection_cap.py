"""Per-user cap on open WebSockets (``ws_max_connections_per_user``): the N+1th socket of a user
hears ``error{code: rate_limited}`` and is closed 1008; other users are unaffected, and a closed
socket gives its slot back."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.realtime import connect_ws, recv_json, register
from tests.support.servers import live_server
from tokenomist.realtime import limits
from tokenomist.realtime.protocol import CLOSE_TOO_MANY_CONNECTIONS

CAP = 2


@pytest.fixture
async def srv(make_settings):
    async with live_server(make_settings(ws_max_connections_per_user=CAP)) as s:
        yield s


async def slot_count(srv, user_id: str, wanted: int) -> None:
    slots = limits.connection_slots(srv.resources)
    while slots.held(user_id) != wanted:
        await asyncio.sleep(0.01)  # polling a condition on the server, bounded by the caller


async def established(ws) -> dict:
    frame = await recv_json(ws)
    assert frame["type"] == "connection_established", frame
    return frame


async def refused(ws) -> tuple[dict, int | None]:
    frame = await recv_json(ws)
    with pytest.raises(ConnectionClosed) as closed:
        await recv_json(ws)
    return frame, closed.value.rcvd.code if closed.value.rcvd else None


async def test_the_cap_refuses_the_next_socket_of_that_user_only(srv):
    alice, bob = await register(srv.url), await register(srv.url)
    async with contextlib.AsyncExitStack() as stack:
        held = [await stack.enter_async_context(connect_ws(srv.url, alice.access_token))]
        held.append(await stack.enter_async_context(connect_ws(srv.url, alice.access_token)))
        for ws in held:
            await established(ws)

        async with connect_ws(srv.url, alice.access_token) as extra:
            frame, code = await refused(extra)
        assert (frame["type"], frame["data"]["code"]) == ("error", "rate_limited")
        assert str(CAP) in frame["data"]["message"]
        assert code == CLOSE_TOO_MANY_CONNECTIONS == 1008

        async with connect_ws(srv.url, bob.access_token) as other:
            assert (await established(other))["data"]["user_id"] == bob.user_id

        await held.pop().close()  # a closed socket frees its slot, once the server has seen it
        await asyncio.wait_for(slot_count(srv, alice.user_id, CAP - 1), 30)
        async with connect_ws(srv.url, alice.access_token) as again:
            await established(again)
        for ws in held:  # the held ones were never disturbed
            await ws.ping()


async def test_the_cap_is_published_in_the_protocol_document(srv):
    import httpx

    async with httpx.AsyncClient(base_url=srv.url) as client:
        doc = (await client.get("/api/v1/protocol")).json()
    assert str(CLOSE_TOO_MANY_CONNECTIONS) in doc["close_codes"]
