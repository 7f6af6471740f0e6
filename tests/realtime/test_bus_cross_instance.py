"""The Redis bus across instances when Redis misbehaves: a publish whose reply is lost (Redis
slow behind a real TCP proxy, the client times out after Redis ran the command) never yields
two seqs for one event, and runs that fell back to the in-process mirror during an outage are
re-published to Redis when it is back, so readers on other instances see them whole."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from tests.support.tcpproxy import TcpProxy
from tokenomist.realtime.bus import MemoryBus, ResilientBus
from tokenomist.realtime.bus_redis import RedisStreamBus

AGENT = {"agent": "triage"}
STARTED = {"thread_id": "t", "message_id": "m"}
DONE = {"status": "completed", "duration_ms": 1}


@pytest.fixture
async def proxy(redis_url):
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    yield proxy
    await proxy.stop()


def _via(proxy: TcpProxy, redis_url: str) -> str:
    return f"redis://127.0.0.1:{proxy.port}{urlsplit(redis_url).path}"


async def _until(predicate, what: str, timeout_s: float = 15.0) -> None:
    """Poll an observable condition (never a fixed sleep standing in for it)."""
    async with asyncio.timeout(timeout_s):
        while not await predicate():
            await asyncio.sleep(0.02)


async def test_a_publish_retried_after_its_reply_was_lost_keeps_one_seq(
    redis_url, redis_prefix, proxy
):
    slow = RedisStreamBus(_via(proxy, redis_url), prefix=redis_prefix, block_ms=100, timeout_s=0.3)
    direct = RedisStreamBus(redis_url, prefix=redis_prefix)
    run_id = uuid.uuid4().hex
    try:
        await slow.ping()
        proxy.delay_s = 1.0  # each way: the client gives up at 0.4 s, Redis runs it at ~1 s
        with pytest.raises(aioredis.TimeoutError):
            await slow.publish(run_id, "agent_started", AGENT, event_id="ev-1")

        async def landed() -> bool:
            return await direct.last_seq(run_id) == 1

        await _until(landed, "the timed-out publish to reach Redis")
        # The publisher retries with the same id (here through a healthy connection).
        again = await direct.publish(run_id, "agent_started", AGENT, event_id="ev-1")
        assert again.seq == 1
        nxt = await direct.publish(run_id, "agent_thinking", {**AGENT, "text": "x"})
        assert nxt.seq == 2
        events = await direct.replay(run_id)
        assert [(e.seq, e.type) for e in events] == [(1, "agent_started"), (2, "agent_thinking")]
        assert again.ts == events[0].ts  # the stored event, not a second one
    finally:
        await slow.close()
        await direct.close()


async def test_a_publish_whose_reply_is_lost_is_retried_into_the_same_seq(
    redis_url, redis_prefix, proxy
):
    primary = RedisStreamBus(
        _via(proxy, redis_url), prefix=redis_prefix, block_ms=100, timeout_s=0.3
    )
    bus = ResilientBus(primary, MemoryBus())
    other = RedisStreamBus(redis_url, prefix=redis_prefix)  # another instance's view
    run_id = uuid.uuid4().hex
    try:
        await bus.publish(run_id, "run_started", STARTED)
        # Redis runs the publish at once; its answer arrives after the client gave up. The
        # bus retries with the same event id and gets the stored event back.
        proxy.delay_next_reply(1.0)
        second = await bus.publish(run_id, "agent_started", AGENT)
        assert second.seq == 2
        assert not bus.pinned  # answered by Redis: no fallback was needed
        third = await bus.publish(run_id, "run_completed", DONE)
        assert third.seq == 3
        seen = [(e.seq, e.type) for e in await other.replay(run_id)]
        assert seen == [(1, "run_started"), (2, "agent_started"), (3, "run_completed")]
        assert [e.seq for e in await bus.replay(run_id)] == [1, 2, 3]
    finally:
        await bus.close()
        await other.close()


async def test_runs_that_fell_back_during_an_outage_reach_other_instances_after_it(
    redis_url, redis_prefix, proxy
):
    primary = RedisStreamBus(_via(proxy, redis_url), prefix=redis_prefix, block_ms=100)
    bus = ResilientBus(primary, MemoryBus(), rejoin_every_s=0.1)
    other = RedisStreamBus(redis_url, prefix=redis_prefix)
    ended, live = uuid.uuid4().hex, uuid.uuid4().hex
    try:
        await bus.publish(ended, "run_started", STARTED)
        await bus.publish(live, "run_started", STARTED)
        proxy.drop = True  # Redis unreachable from this instance
        await bus.publish(ended, "agent_started", AGENT)
        await bus.publish(ended, "run_completed", DONE)
        await bus.publish(live, "agent_started", AGENT)
        assert bus.pinned == {ended, live}
        # During the outage another instance sees both runs only up to the failure.
        assert [e.seq for e in await other.replay(ended)] == [1]

        proxy.drop = False

        async def rejoined() -> bool:
            return not bus.pinned

        await _until(rejoined, "both runs to be handed back to Redis")
        for run_id in (ended, live):
            here = [(e.seq, e.type, e.ts) for e in await bus.mirror.replay(run_id)]
            assert [(e.seq, e.type, e.ts) for e in await other.replay(run_id)] == here
        # The live run publishes on Redis again, continuing its seq.
        nxt = await bus.publish(live, "run_completed", DONE)
        assert nxt.seq == 3
        assert [e.seq for e in await other.replay(live)] == [1, 2, 3]
    finally:
        await bus.close()
        await other.close()
