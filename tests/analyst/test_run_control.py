"""Cancelling a run (through the cache tier, so any instance can) and the per-user limit
on concurrent runs, on both SQL backends and both cache backends, over real HTTP."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.analyst.conftest import demo_workload, get_run, load, read_events, register, start_run
from tests.support.servers import live_server

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
    gate = Gate(srv.resources.services["bus"], "agent_completed", "data")
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
    gate = Gate(srv.resources.services["bus"], "run_completed")
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
