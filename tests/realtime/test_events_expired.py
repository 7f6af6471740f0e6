"""A finished run whose events are gone (an in-process bus that restarted) is answered with
``events_expired`` — the same message on the WebSocket and on the SSE stream — instead of
being followed forever."""

from __future__ import annotations

import httpx
import pytest

from tests.support.realtime import (
    Frames,
    connect_ws,
    read_until_terminal,
    recv_json,
    register,
    send_json,
)
from tests.support.servers import live_server
from tokenomist.analyst import endpoints as analyst_endpoints

EXPECTED = "events of run {id} are no longer kept; GET /api/v1/runs/{id} has its result"


async def test_a_finished_run_without_its_events_is_events_expired_on_ws_and_sse(
    make_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()  # SQLite file + in-process bus: a restart keeps runs, not events
    async with live_server(settings) as srv:
        user = await register(srv.url)
        async with connect_ws(srv.url, user.access_token) as ws:
            await recv_json(ws)
            await send_json(ws, {"type": "user_message", "content": "How can we cut spend?"})
            frames = Frames()
            await read_until_terminal(ws, frames)
        [run_id] = frames.runs

    # The SSE stream waits this long for a terminal event being published right now.
    monkeypatch.setattr(analyst_endpoints, "FINISHING_WAIT_S", 0.2)
    async with live_server(settings) as srv:
        async with connect_ws(srv.url, user.access_token) as ws:
            await recv_json(ws)
            await send_json(ws, {"type": "resume", "run_id": run_id, "after_seq": 0})
            frame = await recv_json(ws)
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as http:
            run = await http.get(
                f"/api/v1/runs/{run_id}",
                headers={"Authorization": f"Bearer {user.access_token}"},
            )
            sse = await http.get(
                f"/api/v1/runs/{run_id}/events",
                headers={"Authorization": f"Bearer {user.access_token}"},
            )
    assert run.json()["status"] == "completed"
    assert (frame["type"], frame["data"]["run_id"]) == ("error", run_id)
    assert frame["data"]["code"] == "events_expired"
    assert frame["data"]["message"] == EXPECTED.format(id=run_id)
    assert sse.status_code == 200
    assert "event: error" in sse.text
    assert f'"message":"{EXPECTED.format(id=run_id)}"' in sse.text
    assert '"code":"events_expired"' in sse.text
