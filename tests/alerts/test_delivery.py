"""Budget alerts end to end over real HTTP: ingest crosses thresholds, a real webhook receiver
gets signed events — each (budget, period, threshold) once, retried through failures, never
again after a restart — on SQLite/in-process and on PostgreSQL/Redis."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text

from tests.support.alerts import ingest, records, signed_by, webhook
from tests.support.servers import live_server
from tests.support.usage import account
from tokenomist.alerts import lifecycle, service


async def _calibrate(client, user) -> float:
    """What one record of ``records()`` costs, spent outside the budget's scope."""
    return await ingest(client, user, records(1, project="calibration"))


async def _budget(client, user, amount: float, channel_id: str, **kw) -> dict:
    body = {"name": "app monthly", "scope": {"project": "app"}, "period": "month",
            "amount_usd": amount, "channel_ids": [channel_id], **kw}  # fmt: skip
    resp = await client.post("/api/v1/budgets", json=body, headers=user)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def _alerts(client, user) -> list[dict]:
    resp = await client.get("/api/v1/alerts", headers=user)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


async def test_crossing_50_then_100_percent_delivers_exactly_two_signed_events(
    app_server, alert_settings, client, user, receiver
):
    unit = await _calibrate(client, user)
    channel = await webhook(client, user, receiver.url)
    budget = await _budget(client, user, 10 * unit, channel["id"], thresholds=[0.5, 1.0])
    assert (budget["spent_usd"], budget["status"]) == (0.0, "ok")

    await ingest(client, user, records(6))  # 60 %
    first = await receiver.wait_for(1)
    await ingest(client, user, records(5))  # 110 %
    got = await receiver.wait_for(2)
    assert got[0] is first[0]
    # More cycles find nothing new to fire.
    await app_server.resources.alerts.run_cycle()
    await app_server.resources.alerts.run_cycle()
    assert len(receiver.requests) == 2

    bodies = [r.json for r in got]
    assert [b["type"] for b in bodies] == ["budget.threshold"] * 2
    assert [b["data"]["threshold"] for b in bodies] == [0.5, 1.0]
    assert bodies[1]["data"]["spent_usd"] == pytest.approx(11 * unit)
    for r, b in zip(got, bodies, strict=True):
        assert signed_by(channel["secret"], r), r.headers
        assert r.headers["x-tokenomist-event-id"] == b["id"]
        assert set(b) == {"id", "type", "org_id", "created_at", "data"}
        assert b["data"]["budget_id"] == budget["id"]
    assert not signed_by("some other secret", got[0])

    listed = await client.get(f"/api/v1/budgets/{budget['id']}", headers=user)
    assert listed.json()["status"] == "exceeded"
    assert listed.json()["spent_usd"] == pytest.approx(11 * unit)
    alerts = await _alerts(client, user)
    assert {a["id"] for a in alerts} == {b["id"] for b in bodies}
    for a in alerts:
        (d,) = a["deliveries"]
        assert (d["status"], d["attempts"], d["channel_id"]) == ("delivered", 1, channel["id"])
        assert [(x["number"], x["status_code"]) for x in d["log"]] == [(1, 200)]

    # Restart: a new app on the same databases evaluates again and sends nothing more.
    await app_server.stop()
    async with live_server(alert_settings) as again:
        await again.resources.alerts.run_cycle()
        assert len(receiver.requests) == 2
        async with httpx.AsyncClient(base_url=again.url, timeout=60) as c2:
            assert len(await _alerts(c2, user)) == 2


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
    app_server, client, user, receiver
):
    receiver.fail_first = 2
    unit = await _calibrate(client, user)
    channel = await webhook(client, user, receiver.url)
    await _budget(client, user, 2 * unit, channel["id"], thresholds=[1.0])
    await ingest(client, user, records(3))

    got = await receiver.wait_for(3)
    assert len({r.headers["x-tokenomist-event-id"] for r in got}) == 1
    assert len({r.body for r in got}) == 1  # the same signed bytes each time
    assert all(signed_by(channel["secret"], r) for r in got)
    await app_server.resources.alerts.run_cycle()  # waits out the cycle that recorded it
    (alert,) = await _alerts(client, user)
    (d,) = alert["deliveries"]
    assert (d["status"], d["attempts"], d["last_error"]) == ("delivered", 3, None)
    assert [(x["number"], x["status_code"]) for x in d["log"]] == [(1, 500), (2, 500), (3, 200)]
    assert len(receiver.requests) == 3


async def test_concurrent_evaluators_fire_each_threshold_once(app_server, client, user, receiver):
    """Evaluators racing past the lock (as two instances would without it): the unique
    constraint on the event's dedup key still lets one event through per threshold."""
    unit = await _calibrate(client, user)
    channel = await webhook(client, user, receiver.url)
    await _budget(client, user, 4 * unit, channel["id"], thresholds=[0.25, 0.5, 1.0])
    resources = app_server.resources
    await resources.alerts.stop()  # no loop: only the racing evaluators below run
    await ingest(client, user, records(5))
    fired = await asyncio.gather(*(service.evaluate_all(resources) for _ in range(4)))
    assert sorted(e.data["threshold"] for batch in fired for e in batch) == [0.25, 0.5, 1.0]
    await service.deliver_due(resources)
    assert len(receiver.requests) == 3


# The advisory lock is PostgreSQL's (SQLite runs one process): this runs on PostgreSQL only.
@pytest.mark.parametrize("sql_backend", ["postgresql"])
async def test_only_the_lock_holder_evaluates_on_postgresql(
    app_server, sql_backend, client, user, receiver
):
    unit = await _calibrate(client, user)
    channel = await webhook(client, user, receiver.url)
    resources = app_server.resources
    await resources.alerts.stop()
    await _budget(client, user, unit, channel["id"], thresholds=[1.0])
    await ingest(client, user, records(2))
    async with resources.engine.connect() as other:  # another instance's evaluator
        await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lifecycle.LOCK_KEY})
        assert (await resources.alerts.run_cycle()).led is False
        assert await _alerts(client, user) == []
        await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lifecycle.LOCK_KEY})
    cycle = await resources.alerts.run_cycle()
    assert (cycle.led, cycle.fired, cycle.delivered) == (True, 1, 1)


async def test_a_receiver_that_never_answers_2xx_is_given_up_after_max_attempts(
    make_settings, sql_backend, receiver
):
    receiver.fail_first = 1_000
    settings = make_settings(
        sql=sql_backend, alerts_retry_base_s=0.01, alerts_eval_interval_s=3600,
        alerts_max_attempts=3, alerts_allow_private_urls=True,
    )  # fmt: skip
    async with live_server(settings) as srv, httpx.AsyncClient(base_url=srv.url) as client:
        user = await account(client)
        unit = await _calibrate(client, user)
        channel = await webhook(client, user, receiver.url)
        await _budget(client, user, unit, channel["id"], thresholds=[1.0])
        await ingest(client, user, records(2))
        await receiver.wait_for(3)
        await srv.resources.alerts.run_cycle()  # the cycle that recorded the third is over
        await srv.resources.alerts.run_cycle()
        (alert,) = await _alerts(client, user)
        (d,) = alert["deliveries"]
        assert (d["status"], d["attempts"], d["next_attempt_at"]) == ("failed", 3, None)
        assert d["last_error"] == "HTTP 500"
        assert len(receiver.requests) == 3
