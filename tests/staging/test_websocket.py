import json

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect


def test_handshake_without_token_is_refused_before_accept(ws_url: str) -> None:
    with pytest.raises(InvalidStatus) as refused, connect(ws_url, subprotocols=["tokenomist.v1"]):
        pass
    assert refused.value.response.status_code == 401


def test_handshake_with_token_selects_protocol_and_greets(ws_url: str, access_token: str) -> None:
    with connect(ws_url, subprotocols=["tokenomist.v1", f"bearer.{access_token}"]) as ws:
        assert ws.subprotocol == "tokenomist.v1"
        hello = json.loads(ws.recv(timeout=10))
        assert hello["type"] == "connection_established"
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "pong"


def test_bad_frame_answers_error_and_connection_stays_usable(
    ws_url: str, access_token: str
) -> None:
    with connect(ws_url, subprotocols=["tokenomist.v1", f"bearer.{access_token}"]) as ws:
        ws.recv(timeout=10)  # connection_established
        ws.send("not json")
        assert json.loads(ws.recv(timeout=10))["type"] == "error"
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "pong"


def test_protocol_schema_lists_the_golden_path_events(http: httpx.Client) -> None:
    resp = http.get("/api/v1/protocol")
    assert resp.status_code == 200
    doc = resp.json()
    for event in (
        "run_started",
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_completed",
        "assistant_message",
        "run_completed",
    ):
        assert event in doc["event_types"], event
    assert "server" in doc and "client" in doc
