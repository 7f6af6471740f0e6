"""Two real ``tokenomist serve`` processes sharing PostgreSQL and Redis evaluate the same
budgets: each event reaches the webhook once, and each open socket — on either instance —
gets its ``alert`` frame once.

Each process keeps its own embedded chDB, so every call is sent to both — under a distinct
request id per instance, since the ingest claims in PostgreSQL would refuse an id the other
instance already took: both then see the same spend, as two instances on one ClickHouse server
would, and both evaluators compete for the same thresholds."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.alerts import Receiver, ingest, records, signed_by, webhook
from tests.support.env import TEST_JWT_SECRET
from tests.support.realtime import connect_ws, recv_json, send_json
from tests.support.servers import server_process
from tests.support.usage import account

pytestmark = pytest.mark.slow
INTERVAL_S = 0.3  # both engines cycle this often: they race for every threshold


def _env(pg_url: str, redis_url: str, redis_prefix: str) -> dict[str, str]:
    return {
        "TOKENOMIST_DATABASE_URL": pg_url,
        "TOKENOMIST_REDIS_URL": redis_url,
        "TOKENOMIST_CACHE_PREFIX": redis_prefix,
        "TOKENOMIST_JWT_SECRET": TEST_JWT_SECRET,
        "TOKENOMIST_ALERTS_ALLOW_PRIVATE_URLS": "true",  # the receiver listens on loopback
        "TOKENOMIST_ALERTS_EVAL_INTERVAL_S": str(INTERVAL_S),
        "TOKENOMIST_ALERTS_RETRY_BASE_S": "0.05",
    }


def _copy(rows: list[dict]) -> list[dict]:
    """The same calls under new request ids, for the other instance's own chDB."""
    return [{**row, "request_id": uuid.uuid4().hex} for row in rows]


async def _alerts_until(client, user, n: int) -> list[dict]:
    """The org's events once ``n`` exist and every delivery of them is settled."""
    for _ in range(600):
        items = (await client.get("/api/v1/alerts", headers=user)).json()["items"]
        settled = all(d["status"] != "pending" for a in items for d in a["deliveries"])
        if len(items) >= n and settled:
            return items
        await asyncio.sleep(0.1)
    raise AssertionError(f"wanted {n} settled events, have {items}")


async def test_two_instances_deliver_each_event_once(
    tmp_path: Path, pg_url, redis_url, redis_prefix, receiver: Receiver
) -> None:
    env = _env(pg_url, redis_url, redis_prefix)
    with server_process(env, tmp_path / "a") as a, server_process(env, tmp_path / "b") as b:
        async with (
            httpx.AsyncClient(base_url=a.url, timeout=60) as ca,
            httpx.AsyncClient(base_url=b.url, timeout=60) as cb,
        ):
            user = await account(ca)
            token = user["Authorization"].removeprefix("Bearer ")
            calibration = records(1, project="calibration")
            unit = await ingest(ca, user, calibration)
            await ingest(cb, user, _copy(calibration))
            channel = await webhook(ca, user, receiver.url)
            body = {"name": "app monthly", "scope": {"project": "app"}, "period": "month",
                    "amount_usd": 10 * unit, "thresholds": [0.5, 0.8, 1.0],
                    "channel_ids": [channel["id"]]}  # fmt: skip
            assert (await ca.post("/api/v1/budgets", json=body, headers=user)).status_code == 201

            async with connect_ws(a.url, token) as wa, connect_ws(b.url, token) as wb:
                for ws in (wa, wb):
                    assert (await recv_json(ws))["type"] == "connection_established"
                # 60 %, then 110 %: the same calls through both instances, at the same time.
                for rows in (records(6), records(5)):
                    await asyncio.gather(ingest(ca, user, rows), ingest(cb, user, _copy(rows)))
                events = await _alerts_until(ca, user, 3)
                # Several more cycles of both engines: a duplicate would have time to appear.
                await asyncio.sleep(10 * INTERVAL_S)
                frames = {}
                for name, ws in (("a", wa), ("b", wb)):
                    await send_json(ws, {"type": "ping"})
                    got = []
                    while (frame := await recv_json(ws))["type"] != "pong":
                        got.append(frame)
                    frames[name] = got

            again = (await cb.get("/api/v1/alerts", headers=user)).json()["items"]

    thresholds = sorted(e["data"]["threshold"] for e in events)
    assert thresholds == [0.5, 0.8, 1.0]
    assert {e["id"] for e in again} == {e["id"] for e in events}
    for event in again:
        (d,) = event["deliveries"]
        assert (d["status"], d["attempts"], len(d["log"])) == ("delivered", 1, 1)
    # The webhook: three signed requests, one per event.
    assert len(receiver.requests) == 3, [r.json for r in receiver.requests]
    assert sorted(r.headers["x-tokenomist-event-id"] for r in receiver.requests) == sorted(
        e["id"] for e in events
    )
    assert all(signed_by(channel["secret"], r) for r in receiver.requests)
    # Each socket, whichever instance it is on, saw each event once.
    for name, got in frames.items():
        assert [f["type"] for f in got] == ["alert"] * 3, (name, got)
        assert sorted(f["data"]["id"] for f in got) == sorted(e["id"] for e in events), name
