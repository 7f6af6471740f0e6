"""Spend anomalies over real HTTP on the demo workload: none on clean data, exactly one for a
planted spike (one feature's tokens per call x4 for a day) whose drivers name it and add up,
and its ``anomaly.spend`` event delivered once to a real webhook receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.alerts import ingest, records, signed_by, webhook
from tests.support.analyst import ask, register
from tokenomist.analyst import fmt
from tokenomist.usage import demo

END = datetime(2026, 11, 27, tzinfo=UTC)  # a Friday: the workload's last day is a Thursday
SPIKE_FEATURE = "report-writer"


def workload(end: datetime, spike_day: datetime | None) -> list[dict]:
    """The clean demo (35 days up to ``end``), with ``SPIKE_FEATURE``'s calls on
    ``spike_day`` sending and receiving four times the tokens."""
    rows = demo.generate(seed=7, days=35, end=end, planted=False).records
    if spike_day is None:
        return rows
    day = spike_day.strftime("%Y-%m-%d")
    out = []
    for r in rows:
        if r["feature"] == SPIKE_FEATURE and r["timestamp"].startswith(day):
            r = {**r, **{k: r[k] * 4 for k in ("input_tokens", "cached_input_tokens",
                                                 "output_tokens")}}  # fmt: skip
        out.append(r)
    return out


async def load(client, user, rows: list[dict]) -> None:
    for i in range(0, len(rows), 5000):
        resp = await client.post("/api/v1/usage", json=rows[i : i + 5000], headers=user)
        assert resp.status_code == 200, resp.text
        assert not resp.json()["rejected"], resp.text


async def anomalies(client, user, start: datetime, end: datetime, **params) -> list[dict]:
    resp = await client.get(
        "/api/v1/anomalies",
        params={"from": start.isoformat(), "to": end.isoformat(), **params},
        headers=user,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.mark.slow
async def test_clean_demo_has_no_anomaly(client, user):
    await load(client, user, workload(END, None))
    # Every day with two reference weeks behind it (the workload starts 35 days before END).
    assert await anomalies(client, user, END - timedelta(days=21), END) == []
    assert await anomalies(client, user, END - timedelta(days=3), END, granularity="hour") == []


@pytest.mark.slow
async def test_a_tokens_per_call_spike_is_one_anomaly_explained_by_its_feature(client, user):
    spike = END - timedelta(days=2)
    await load(client, user, workload(END, spike))
    found = await anomalies(client, user, END - timedelta(days=7), END)
    assert len(found) == 1, found
    (a,) = found
    assert (a["dimension"], a["key"]) == ("feature", SPIKE_FEATURE)
    assert a["window"] == {
        "from": spike.isoformat().replace("+00:00", "Z"),
        "to": (spike + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
    }
    top = a["drivers"][0]
    assert (top["dimension"], top["key"], top["cause"]) == ("feature", SPIKE_FEATURE,
                                                           "tokens_per_call")  # fmt: skip
    assert sum(d["delta_usd"] for d in a["drivers"]) == pytest.approx(
        a["actual_usd"] - a["expected_usd"], abs=0.005
    )


@pytest.mark.slow
async def test_an_anomaly_is_one_signed_event_delivered_once(app_server, client, user, receiver):
    now = datetime.now(UTC)
    yesterday = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    await load(client, user, workload(now, yesterday))
    channel = await webhook(client, user, receiver.url)  # only now is there a place to send to
    engine = app_server.resources.alerts
    await engine.run_cycle()
    found = await anomalies(client, user, yesterday, now)
    spike = next(a for a in found if (a["dimension"], a["key"]) == ("feature", SPIKE_FEATURE))
    got = await receiver.wait_for(len(found))
    bodies = {r.json["data"]["id"]: r for r in got}
    assert sorted(bodies) == sorted(a["id"] for a in found)
    sent = bodies[spike["id"]]
    assert signed_by(channel["secret"], sent)
    assert sent.json["type"] == "anomaly.spend"
    assert sent.headers["x-tokenomist-event-id"] == sent.json["id"]
    assert sent.json["data"]["drivers"][0]["cause"] == "tokens_per_call"

    await engine.run_cycle()  # seen again: no second event, no second delivery
    assert len(receiver.requests) == len(found)
    listed = (await client.get("/api/v1/alerts", headers=user)).json()["items"]
    events = [e for e in listed if e["type"] == "anomaly.spend"]
    assert len(events) == len(found)
    assert {d["status"] for e in events for d in e["deliveries"]} == {"delivered"}


async def test_bad_parameters_are_422_naming_them(client, user):
    cases = [
        ({"from": "2026-11-10T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "query.from"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "query.from"),
        ({"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "granularity": "hour"},
         "query.from"),
        ({"granularity": "minute"}, "query.granularity"),
        ({"from": "yesterday"}, "query.from"),
        ({"since": "2026-11-01"}, "query.since"),
    ]  # fmt: skip
    for params, field in cases:
        resp = await client.get("/api/v1/anomalies", params=params, headers=user)
        assert resp.status_code == 422, (params, resp.text)
        assert field in {d["field"] for d in resp.json()["error"]["details"]}, resp.text
    assert (await client.get("/api/v1/anomalies")).status_code == 401


@pytest.mark.slow
async def test_the_analyst_says_why_spend_jumped_from_the_anomaly(app_server, client):
    person = await register(app_server.url)
    spike = END - timedelta(days=2)  # "yesterday" from the latest record (the 26th)
    await load(client, person.headers, workload(END, spike))
    run, frames = await ask(app_server, person, "Why did spend jump yesterday?")
    report = run["report"]
    assert report["intent"]["kind"] == "anomalies"
    tools = [f["data"]["tool"] for f in frames if f["type"] == "tool_completed"]
    assert "anomalies" in tools
    (a,) = report["anomalies"]
    assert a == (await anomalies(client, person.headers, spike, spike + timedelta(days=1)))[0]
    assert (a["key"], a["drivers"][0]["cause"]) == (SPIKE_FEATURE, "tokens_per_call")
    content = run["content"]
    assert fmt.money(a["actual_usd"] - a["expected_usd"]) in content
    assert fmt.money(a["drivers"][0]["delta_usd"]) in content
    assert "more tokens per call" in content
    # Within a scope, its own slices only: the spike is in docs, not in research.
    docs, _ = await ask(app_server, person, "Did the docs project's spend spike yesterday?")
    assert docs["report"]["filters"] == {"project": "docs"}
    assert [x["id"] for x in docs["report"]["anomalies"]] == [a["id"]]
    research, _ = await ask(app_server, person, "Did research spend jump yesterday?")
    assert research["report"]["filters"] == {"project": "research"}
    assert research["report"]["anomalies"] == []


async def test_the_analyst_says_whether_budgets_are_on_track(app_server, client):
    person = await register(app_server.url)
    rows = records(3)  # now: this month's spend
    await ingest(client, person.headers, rows)
    created = await client.post(
        "/api/v1/budgets",
        json={"name": "team", "period": "month", "amount_usd": 0.05},
        headers=person.headers,
    )
    assert created.status_code == 201, created.text
    run, frames = await ask(app_server, person, "Are we on track for our budget?")
    report = run["report"]
    assert report["intent"]["kind"] == "budget"
    assert "budgets_status" in [f["data"]["tool"] for f in frames if f["type"] == "tool_completed"]
    (b,) = report["budgets"]["budgets"]
    (listed,) = (await client.get("/api/v1/budgets", headers=person.headers)).json()["items"]
    assert (b["spent_usd"], b["status"]) == (listed["spent_usd"], listed["status"])
    assert b["spent_usd"] == pytest.approx(sum(
        demo._record_cost(demo._pricer(), r) for r in rows))  # fmt: skip
    assert listed["status"] == "exceeded"  # three gpt-4o calls of 10k/1k tokens: $0.105
    assert f"| team | month | {fmt.money(0.05)} | {fmt.money(b['spent_usd'])} |" in run["content"]
    month = report["budgets"]["month_forecast"]
    assert f"This month so far: **{fmt.money(month['spent_usd'])}**" in run["content"]
