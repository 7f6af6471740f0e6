"""What the server process logs for refused handshakes: one info line each, never an error."""

from __future__ import annotations

import json

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
