"""What the server process logs for refused handshakes: one info line each, never an error."""

from __future__ import annotations

import json
import logging

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.servers import server_process


async def _refuse(url: str, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, open_timeout=10, **kwargs):
            pass
    return info.value.response.status_code


async def test_each_refused_handshake_logs_one_info_line_and_no_error(tmp_path):
    # JSON logs (as in staging/production), so each line can be read back exactly.
    env = {"TOKENOMIST_LOG_LEVEL": "info", "TOKENOMIST_ENVIRONMENT": "staging",
           "TOKENOMIST_JWT_SECRET": "s" * 40}  # fmt: skip
    with server_process(env, tmp_path / "data") as server:
        ws = server.url.replace("http://", "ws://") + "/ws"
        statuses = [
            await _refuse(ws),
            await _refuse(ws, additional_headers={"Origin": "https://evil.example"}),
            await _refuse(ws, subprotocols=["chat.v9"]),  # type: ignore[list-item]
            await _refuse(ws + "?access_token=abc"),
            await _refuse(ws, subprotocols=["bearer.not-a-jwt"]),  # type: ignore[list-item]
        ]
        server.stop()  # flushes: every line the refusals wrote is in the file
        output = server.log_path.read_text()
    assert statuses == [401, 403, 400, 401, 401]
    lines = [json.loads(ln) for ln in output.splitlines() if ln.startswith("{")]
    refused = [ln for ln in lines if ln["event"] == "ws.handshake_refused"]
    assert [r["status"] for r in refused] == statuses
    assert {r["level"] for r in refused} == {"info"}
    assert "not-a-jwt" not in output
    assert not [ln for ln in lines if ln["level"] in ("error", "critical")]
    assert "ERROR" not in output and "without completing handshake" not in output


async def test_a_handshake_while_the_database_is_down_is_answered_503_not_dropped(
    make_settings, pg_url, caplog
):
    """The token check needs the database: when it is down the client hears a 503 naming
    it (was: uvicorn's "ASGI callable returned without completing handshake" ERROR and a
    bare 500)."""
    from sqlalchemy.engine import make_url

    from tests.support.realtime import register, ws_url
    from tests.support.servers import live_server
    from tests.support.tcpproxy import TcpProxy

    uvicorn_log = logging.getLogger("uvicorn")  # does not propagate to caplog's root handler
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    via_proxy = url.set(port=await proxy.start()).render_as_string(hide_password=False)
    try:
        async with live_server(make_settings(database_url=via_proxy)) as srv:
            uvicorn_log.addHandler(caplog.handler)  # after the server configured its logging
            user = await register(srv.url)
            proxy.drop = True
            await srv.resources.engine.dispose()  # no pooled connection to hide the outage
            with pytest.raises(InvalidStatus) as info:
                async with connect(
                    ws_url(srv.url), subprotocols=[f"bearer.{user.access_token}"], open_timeout=30
                ):
                    pass
    finally:
        await proxy.stop()
        uvicorn_log.removeHandler(caplog.handler)
    response = info.value.response
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert response.status_code == 503
    assert json.loads(response.body)["error"]["code"] == "dependency_unavailable"
