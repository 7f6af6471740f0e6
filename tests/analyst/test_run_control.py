"""Cancelling a run (through the cache tier, so any instance can) and the per-user limit
on concurrent runs, on both SQL backends and both cache backends, over real HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from tests.support.analyst import demo_workload, get_run, load, read_events, register, start_run
from tests.support.servers import live_server
from tokenomist.analyst.strategies import ORDER

QUESTION = "How can we cut our AI spend?"


class Gate:
    """Holds a run just before it publishes ``kind`` (of ``agent``): ``reached`` is set when
    the run arrives there, ``release()`` lets it go on — the test acts at that exact point
    of a real run (no sleeps)."""

    def __init__(self, bus, kind: str, agent: str | None = None) -> None:
        self.reached = asyncio.Event()
        self._open = asyncio.Event()
        original = bus.publish

        async def publish(run_id, type_, data):
            if str(type_) == kind and (agent is None or data.get("agent") == agent):
                self.reached.set()
                await self._open.wait()
            return await original(run_id, type_, data)

        bus.publish = publish

    def release(self) -> None:
        self._open.set()


@pytest.fixture
async def srv(make_settings, sql_backend, cache_backend):
    async with live_server(make_settings(sql=sql_backend, cache=cache_backend)) as s:
        yield s


async def test_cancel_stops_the_run_at_the_next_boundary(srv):
    user = await register(srv.url)
    await load(srv, user.org_id, demo_workload().records)
    gate = Gate(srv.resources.bus, "agent_completed", "data")
    accepted = await start_run(srv, user, QUESTION)
    reader = asyncio.create_task(read_events(srv, user, accepted["run_id"]))
    async with httpx.AsyncClient(base_url=srv.url, headers=user.headers) as client:
        await asyncio.wait_for(gate.reached.wait(), 60)
        r = await client.post(f"/api/v1/runs/{accepted['run_id']}/cancel")
        assert r.status_code == 202, r.text
        gate.release()
        frames = await asyncio.wait_for(reader, 60)
        assert frames[-1]["type"] == "run_failed"
        assert frames[-1]["data"]["code"] == "cancelled"
        types = [f["type"] for f in frames]
        assert "assistant_message" not in types
        # The data agent finished; the run stopped at the boundary before optimization.
        assert [f["data"]["agent"] for f in frames if f["type"] == "agent_started"] == [
            "triage",
            "data",
        ]
        last_agent = [f for f in frames if f["type"] == "agent_completed"][-1]["data"]
        assert (last_agent["agent"], last_agent["status"]) == ("data", "completed")
        run = (await get_run(srv, user, accepted["run_id"])).json()
        assert run["status"] == "cancelled"
        assert run["error"]["code"] == "cancelled"
        assert run["content"] is None and run["report"] is None
        r = await client.post(f"/api/v1/runs/{accepted['run_id']}/cancel")
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "run_finished"


async def test_concurrent_runs_per_user_are_limited_until_one_finishes(srv):
    limit = srv.resources.settings.analyst_max_concurrent_runs
    user, other = await register(srv.url), await register(srv.url)
    gate = Gate(srv.resources.bus, "run_completed")
    runs = [await start_run(srv, user, QUESTION) for _ in range(limit)]
    async with httpx.AsyncClient(base_url=srv.url) as client:
        r = await client.post("/api/v1/runs", json={"message": QUESTION}, headers=user.headers)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "rate_limited"
        assert r.json()["error"]["details"] == {"limit": limit, "active": limit}
        # Another user is not affected.
        r = await client.post("/api/v1/runs", json={"message": QUESTION}, headers=other.headers)
        assert r.status_code == 202
        extra = r.json()
        gate.release()
        for run in runs:
            frames = await asyncio.wait_for(read_events(srv, user, run["run_id"]), 60)
            assert frames[-1]["type"] == "run_completed"
        await read_events(srv, other, extra["run_id"])
        r = await client.post("/api/v1/runs", json={"message": QUESTION}, headers=user.headers)
        assert r.status_code == 202
        await read_events(srv, user, r.json()["run_id"])


async def test_a_run_past_its_time_limit_fails_with_timeout(make_settings):
    async with live_server(make_settings(analyst_run_timeout_s=0.001)) as srv:
        user = await register(srv.url)
        await load(srv, user.org_id, demo_workload().records)
        accepted = await start_run(srv, user, QUESTION)
        frames = await read_events(srv, user, accepted["run_id"])
        run = (await get_run(srv, user, accepted["run_id"])).json()
    assert frames[-1]["type"] == "run_failed"
    assert frames[-1]["data"]["code"] == "timeout"
    assert (run["status"], run["error"]["code"]) == ("failed", "timeout")


async def test_runs_left_unfinished_by_a_dead_process_are_failed_and_free_their_slot(srv):
    from sqlalchemy import update

    from tokenomist.analyst import repository
    from tokenomist.analyst.models import Run
    from tokenomist.kit.db import utcnow

    user = await register(srv.url)
    limit = srv.resources.settings.analyst_max_concurrent_runs
    stale = []
    for _ in range(limit):
        run = await start_run(srv, user, QUESTION)
        await read_events(srv, user, run["run_id"])
        stale.append(run["run_id"])
    # As if the process running them had died mid-run, an hour ago.
    async with srv.resources.sessions() as session:
        await session.execute(
            update(Run)
            .where(Run.id.in_(stale))
            .values(status="running", created_at=utcnow() - timedelta(hours=1))
        )
        await session.commit()
    r = await start_run(srv, user, QUESTION)  # stale runs do not hold a slot
    await read_events(srv, user, r["run_id"])
    async with srv.resources.sessions() as session:
        assert await repository.fail_abandoned(session, utcnow() - timedelta(minutes=10)) == limit
        await session.commit()
    run = (await get_run(srv, user, stale[0])).json()
    assert (run["status"], run["error"]["code"]) == ("failed", "abandoned")


async def test_the_tools_are_published_with_json_schemas(srv):
    user = await register(srv.url)
    async with httpx.AsyncClient(base_url=srv.url, headers=user.headers) as client:
        r = await client.get("/api/v1/analyst/tools")
    assert r.status_code == 200
    tools = {t["name"]: t for t in r.json()}
    assert {"spend_summary", "breakdown", "time_series", "top_cost_drivers",
            "percentile_profile"} <= set(tools)  # fmt: skip
    assert {f"find_{m.ID}" for m in ORDER} <= set(tools)
    params = tools["find_batch_tier"]["parameters"]
    assert set(params["required"]) == {"from", "to"}
    assert params["additionalProperties"] is False
