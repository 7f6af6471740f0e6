"""The ``alert`` WebSocket frame: an alert event reaches every open socket of its org — and no
other org's — over real WebSockets, checked against the published protocol schema, on
SQLite/in-process and on PostgreSQL/Redis (where it travels over Redis pub/sub)."""

from __future__ import annotations

import httpx
import jsonschema

from tests.support.alerts import ingest, records, webhook
from tests.support.realtime import connect_ws, recv_json, send_json
from tests.support.usage import account


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _validator(client: httpx.AsyncClient) -> jsonschema.Draft202012Validator:
    resp = await client.get("/api/v1/protocol")
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert "alert" in doc["event_types"]
    assert "alert" in doc["server"]["discriminator"]["mapping"]
    return jsonschema.Draft202012Validator(doc["server"])


async def test_an_alert_frame_reaches_every_socket_of_the_org_and_no_other(client, user, receiver):
    stranger = await account(client)
    validator = await _validator(client)
    unit = await ingest(client, user, records(1, project="calibration"))
    channel = await webhook(client, user, receiver.url)
    body = {"name": "app", "scope": {"project": "app"}, "period": "month", "amount_usd": 10 * unit,
            "thresholds": [0.5], "channel_ids": [channel["id"]]}  # fmt: skip
    assert (await client.post("/api/v1/budgets", json=body, headers=user)).status_code == 201

    async with (
        connect_ws(str(client.base_url), _token(user)) as first,
        connect_ws(str(client.base_url), _token(user)) as second,
        connect_ws(str(client.base_url), _token(stranger)) as other,
    ):
        for ws in (first, second, other):
            assert (await recv_json(ws))["type"] == "connection_established"
        await ingest(client, user, records(6))  # 60 % of the budget
        frames = [await recv_json(first, timeout=60), await recv_json(second, timeout=60)]
        # The stranger's socket was handed nothing: its next frame answers its own ping.
        await send_json(other, {"type": "ping"})
        assert (await recv_json(other))["type"] == "pong"

    (event,) = (await client.get("/api/v1/alerts", headers=user)).json()["items"]
    for frame in frames:
        validator.validate(frame)
        assert frame["type"] == "alert"
        assert set(frame) == {"type", "ts", "data"}  # an org-wide frame: no run_id, no seq
        assert frame["data"]["id"] == event["id"]
        assert frame["data"]["type"] == "budget.threshold"
        assert frame["data"]["data"]["threshold"] == 0.5
    # The frame carries exactly what the webhook was sent.
    (delivered,) = await receiver.wait_for(1)
    assert frames[0]["data"] == delivered.json
