"""Redis is shared and optional: a resume lands on any instance, and a Redis outage in the
middle of a run lets the run finish on this instance's fallback without losing anything."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis

from tests.realtime.test_runs import AGENTS, QUESTION, assert_gap_free, assert_golden_order
from tests.support.env import TEST_JWT_SECRET
from tests.support.realtime import (
    Frames,
    connect_ws,
    read_until_terminal,
    recv_json,
    register,
    send_json,
)
from tests.support.servers import free_port, live_server, server_process


@pytest.fixture
def own_redis(tmp_path: Path):
    """A redis-server of this test's own, so the test may kill it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server binary not installed")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"redis-server on port {port} did not start") from None
            time.sleep(0.05)
    client.close()
    yield proc, f"redis://127.0.0.1:{port}/0"
    if proc.poll() is None:
        proc.kill()
    proc.wait()


async def test_redis_killed_mid_run_run_finishes_on_fallback_nothing_lost(make_settings, own_redis):
    proc, url = own_redis
    settings = make_settings(redis_url=url, cache_prefix=f"t{uuid.uuid4().hex[:6]}:")
    async with live_server(settings) as srv:
        bus = srv.resources.bus
        assert bus.backend == "redis"
        # Fault injection at a precise point of the run: Redis dies just before the second
        # agent's first event is stored. Everything before went through Redis Streams.
        original = bus.primary.publish
        killed = []

        async def publish(run_id, type, data, **kw):
            if type == "agent_started" and data.get("agent") == AGENTS[1] and not killed:
                proc.kill()
                proc.wait()
                killed.append(run_id)
            return await original(run_id, type, data, **kw)

        bus.primary.publish = publish
        user = await register(srv.url)
        async with connect_ws(srv.url, user.access_token) as ws:
            await recv_json(ws)
            await send_json(ws, {"type": "user_message", "content": QUESTION})
            frames = Frames()
            await read_until_terminal(ws, frames)
        assert killed, "the fault was never injected"
        run_id = killed[0]
        run = frames.runs[run_id]
        assert_gap_free(run)
        assert assert_golden_order(run) == AGENTS
        assert run[-1]["data"]["status"] == "completed"
        assert bus.using_fallback

        async with httpx.AsyncClient(base_url=srv.url) as client:
            r = await client.get("/health")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "degraded"
        assert body["checks"]["cache"]["status"] == "unhealthy"
        assert body["checks"]["cache"]["backend"] == "redis"
        # The first probe after the kill may meet the dead pooled socket ("other"); the cause
        # is named either way.
        assert body["checks"]["cache"]["error"]["message"]

        # A client that reconnects while Redis is still down gets the same events, once each.
        async with connect_ws(srv.url, user.access_token) as ws:
            await recv_json(ws)
            await send_json(ws, {"type": "resume", "run_id": run_id, "after_seq": 2})
            again = Frames()
            await read_until_terminal(ws, again, {run_id})
        assert again.runs[run_id] == run[2:]


@pytest.mark.slow
async def test_resume_on_another_process_sharing_redis_and_postgres(
    tmp_path, pg_url, redis_url, redis_prefix
):
    env = {
        "TOKENOMIST_DATABASE_URL": pg_url,
        "TOKENOMIST_REDIS_URL": redis_url,
        "TOKENOMIST_CACHE_PREFIX": redis_prefix,
        "TOKENOMIST_JWT_SECRET": TEST_JWT_SECRET,
    }
    with (
        server_process(env, tmp_path / "a") as a,
        server_process(env, tmp_path / "b") as b,
    ):
        user = await register(a.url)
        async with connect_ws(a.url, user.access_token) as ws:
            await recv_json(ws)
            await send_json(ws, {"type": "user_message", "content": QUESTION})
            first = [await recv_json(ws) for _ in range(3)]
        run_id = first[0]["run_id"]
        async with connect_ws(b.url, user.access_token) as ws:
            hello = await recv_json(ws)
            assert hello["data"]["user_id"] == user.user_id
            await send_json(ws, {"type": "resume", "run_id": run_id, "after_seq": 3})
            rest = Frames()
            await read_until_terminal(ws, rest, {run_id})
        union = first + rest.runs[run_id]
        assert_gap_free(union)
        assert assert_golden_order(union) == AGENTS
        # Another user resuming the run on the second process: not found there either.
        stranger = await register(b.url)
        async with connect_ws(b.url, stranger.access_token) as ws:
            await recv_json(ws)
            await send_json(ws, {"type": "resume", "run_id": run_id, "after_seq": 0})
            assert (await recv_json(ws))["data"]["code"] == "not_found"
