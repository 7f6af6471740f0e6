"""The run event bus on both backends: gap-free seq, replay, live stream, terminal end,
TTL/ring bounds, and the Redis → in-process fallback in the middle of a run."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from tokenomist.realtime.bus import (
    BusUnavailable,
    EventsExpired,
    MemoryBus,
    ResilientBus,
)
from tokenomist.realtime.bus_redis import RedisStreamBus
from tokenomist.realtime.lifecycle import build_bus
from tokenomist.realtime.protocol import validate_server_frame

AGENT = {"agent": "triage"}


@pytest.fixture
async def bus(cache_backend, make_settings):
    settings = make_settings(cache=cache_backend)
    bus = build_bus(settings)
    assert bus.backend == cache_backend
    if isinstance(bus, ResilientBus):
        _name_connections(bus.primary)
    yield bus
    await bus.close()


def _name_connections(bus: RedisStreamBus) -> RedisStreamBus:
    # Before the first command: every connection of this bus then carries the name, so
    # _reading() can tell its blocked XREAD apart from other clients of the shared server.
    bus.client.connection_pool.connection_kwargs["client_name"] = f"tk-test-{uuid.uuid4().hex}"
    return bus


async def _reading(bus, run_id: str) -> None:
    """Wait until a reader of ``run_id`` is waiting for new events (so what is published
    next reaches it live, not by replay): in process, until the run has a reader; on Redis,
    until one of the bus's connections is blocked in XREAD. A resilient bus reads a run it
    publishes itself from its in-process mirror, any other from Redis. Bounded: 10 s."""
    memory = bus.mirror if isinstance(bus, ResilientBus) else bus
    redis_bus = bus.primary if isinstance(bus, ResilientBus) else bus
    async with asyncio.timeout(10):
        while not (isinstance(memory, MemoryBus) and run_id in memory._readers):
            if isinstance(redis_bus, RedisStreamBus):
                name = redis_bus.client.connection_pool.connection_kwargs["client_name"]
                clients = await redis_bus.client.client_list()
                if any(c.get("name") == name and "b" in c.get("flags", "") for c in clients):
                    return
            await asyncio.sleep(0.005)


def _run_id() -> str:
    return uuid.uuid4().hex


async def _publish_run(bus, run_id: str, agents: int = 2) -> None:
    await bus.publish(run_id, "run_started", {"thread_id": "t1", "message_id": "m1"})
    for i in range(agents):
        await bus.publish(run_id, "agent_started", {"agent": f"a{i}"})
        await bus.publish(run_id, "agent_thinking", {"agent": f"a{i}", "text": "hm"})
    await bus.publish(run_id, "run_completed", {"status": "completed", "duration_ms": 12.5})


async def test_publish_assigns_gap_free_seq_and_replay_returns_after_seq(bus):
    run_id = _run_id()
    await _publish_run(bus, run_id)
    events = await bus.replay(run_id)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert [e.type for e in events[:1]] == ["run_started"]
    assert events[-1].type == "run_completed"
    for e in events:
        validate_server_frame(e.model_dump())
    assert [e.seq for e in await bus.replay(run_id, after_seq=4)] == [5, 6]
    assert await bus.replay(run_id, after_seq=6) == []
    assert await bus.replay(_run_id()) == []


async def test_stream_replays_then_follows_live_and_ends_after_terminal(bus):
    run_id = _run_id()
    await bus.publish(run_id, "run_started", {"thread_id": "t1", "message_id": "m1"})
    await bus.publish(run_id, "agent_started", AGENT)
    got = []

    async def read():
        async for e in bus.stream(run_id, after_seq=1):
            got.append(e.seq)

    reader = asyncio.create_task(read())
    await _reading(bus, run_id)
    await bus.publish(run_id, "agent_thinking", {"agent": "triage", "text": "x"})
    await bus.publish(run_id, "run_failed", {"code": "cancelled", "message": "cancelled"})
    await asyncio.wait_for(reader, 10)
    assert got == [2, 3, 4]


async def test_stream_started_before_first_event_sees_all(bus):
    run_id = _run_id()
    reader = asyncio.create_task(_collect(bus, run_id))
    await _reading(bus, run_id)
    await _publish_run(bus, run_id, agents=1)
    assert await asyncio.wait_for(reader, 10) == [1, 2, 3, 4]


async def _collect(bus, run_id, after=0):
    return [e.seq async for e in bus.stream(run_id, after)]


async def test_concurrent_publishers_never_share_a_seq(bus):
    run_id = _run_id()
    await asyncio.gather(
        *(bus.publish(run_id, "agent_started", {"agent": f"a{i}"}) for i in range(50))
    )
    assert [e.seq for e in await bus.replay(run_id)] == list(range(1, 51))


async def test_publish_rejects_payload_missing_contract_fields(bus):
    with pytest.raises(ValueError, match="thread_id"):
        await bus.publish(_run_id(), "run_started", {"message_id": "m"})
    with pytest.raises(ValueError, match="unknown event type"):
        await bus.publish(_run_id(), "run_exploded", {})


async def test_memory_ring_is_bounded_and_says_when_events_were_dropped():
    bus = MemoryBus(max_events=3)
    run_id = _run_id()
    for i in range(5):
        await bus.publish(run_id, "agent_started", {"agent": f"a{i}"})
    assert [e.seq for e in await bus.replay(run_id, 2)] == [3, 4, 5]
    with pytest.raises(EventsExpired, match=r"events 1\.\.2"):
        await bus.replay(run_id, 0)


async def test_memory_runs_expire_after_ttl():
    now = [0.0]
    bus = MemoryBus(ttl_s=10, clock=lambda: now[0])
    await bus.publish("old", "agent_started", AGENT)
    now[0] = 100.0
    await bus.publish("new", "agent_started", AGENT)
    assert await bus.replay("old") == []
    assert len(await bus.replay("new")) == 1


async def test_redis_stream_is_shared_between_two_bus_instances(redis_url, redis_prefix):
    one = RedisStreamBus(redis_url, prefix=redis_prefix, block_ms=200)
    two = _name_connections(RedisStreamBus(redis_url, prefix=redis_prefix, block_ms=200))
    try:
        run_id = _run_id()
        reader = asyncio.create_task(_collect(two, run_id))
        await _reading(two, run_id)
        await one.publish(run_id, "run_started", {"thread_id": "t", "message_id": "m"})
        await two.publish(run_id, "agent_started", AGENT)  # any instance continues the seq
        await one.publish(run_id, "run_completed", {"status": "completed", "duration_ms": 1})
        assert await asyncio.wait_for(reader, 10) == [1, 2, 3]
        ttl = await one.client.ttl(f"{redis_prefix}run:{run_id}:events")
        assert 0 < ttl <= one.ttl_s
    finally:
        await one.close()
        await two.close()


async def test_redis_failure_mid_run_continues_seq_on_mirror(redis_url, redis_prefix):
    primary = RedisStreamBus(redis_url, prefix=redis_prefix, block_ms=200)
    bus = ResilientBus(primary, MemoryBus())
    run_id = _run_id()
    try:
        reader = asyncio.create_task(_collect(bus, run_id))
        await bus.publish(run_id, "run_started", {"thread_id": "t", "message_id": "m"})
        await bus.publish(run_id, "agent_started", AGENT)
        # Point the client at a port where nothing listens: the next publish fails.
        await primary.client.aclose()
        primary.client = type(primary.client).from_url("redis://127.0.0.1:1/0")
        primary._publish = primary.client.register_script("return 1")
        await bus.publish(run_id, "agent_thinking", {"agent": "triage", "text": "x"})
        assert bus.using_fallback
        await bus.publish(run_id, "run_completed", {"status": "completed", "duration_ms": 1})
        assert await asyncio.wait_for(reader, 10) == [1, 2, 3, 4]
        assert [e.seq for e in await bus.replay(run_id)] == [1, 2, 3, 4]
    finally:
        await bus.close()


async def test_memory_keeps_at_most_max_runs_evicting_least_recent_first():
    bus = MemoryBus(max_runs=3)
    for rid in ("a", "b", "c"):
        await bus.publish(rid, "agent_started", AGENT)
    await bus.publish("a", "agent_thinking", {"agent": "triage", "text": "x"})  # a is recent
    await bus.publish("d", "agent_started", AGENT)
    assert [r for r in "abcd" if bus.has_run(r)] == ["a", "c", "d"]


async def test_mirror_drops_redis_stored_runs_early_but_keeps_fallback_runs():
    now = [0.0]
    mirror = MemoryBus(ttl_s=1000, clock=lambda: now[0])
    mirror.append(_event("stored", 1), ttl_s=10)
    await mirror.publish("fell-back", "agent_started", AGENT)
    now[0] = 50.0
    await mirror.publish("other", "agent_started", AGENT)  # triggers the sweep
    assert not mirror.has_run("stored")
    assert mirror.has_run("fell-back")


def _event(run_id: str, seq: int):
    from tokenomist.realtime.protocol import ServerEvent

    return ServerEvent(type="agent_started", run_id=run_id, seq=seq, ts="t", data=AGENT)


async def test_redis_down_for_a_run_of_another_instance_reports_unavailable():
    # Nothing listens on port 1: this instance holds no copy of the run, so after the retry
    # window the reader is told the events are unavailable instead of waiting forever.
    primary = RedisStreamBus("redis://127.0.0.1:1/0", block_ms=100, timeout_s=0.2)
    bus = ResilientBus(primary, MemoryBus(), retry_s=0.3)
    try:
        with pytest.raises(BusUnavailable, match=re.escape("redis://127.0.0.1:1/0")):
            await asyncio.wait_for(_collect(bus, _run_id()), 10)
        with pytest.raises(BusUnavailable, match=re.escape("Redis at redis://127.0.0.1:1/0")):
            await bus.replay(_run_id())
    finally:
        await bus.close()


async def test_stream_of_a_finished_run_from_or_past_its_last_seq_ends(bus):
    # A client that saw run_completed reconnects and resumes from its last seq: nothing is
    # new, and nothing will ever come, so the reader must end instead of waiting forever
    # (which would pin the socket open and, on Redis, hold a blocking connection per reader).
    run_id = _run_id()
    await _publish_run(bus, run_id)  # terminal event is seq 6
    assert await asyncio.wait_for(_collect(bus, run_id, 6), 5) == []
    assert await asyncio.wait_for(_collect(bus, run_id, 60), 5) == []


async def test_redis_tail_of_a_finished_run_from_its_last_seq_ends(redis_url, redis_prefix):
    one = RedisStreamBus(redis_url, prefix=redis_prefix, block_ms=200)
    two = _name_connections(RedisStreamBus(redis_url, prefix=redis_prefix, block_ms=200))
    try:
        run_id = _run_id()
        await _publish_run(one, run_id)
        assert await asyncio.wait_for(_collect(two, run_id, 6), 5) == []
        assert await asyncio.wait_for(_collect(two, run_id, 60), 5) == []
        # A reader ahead of a live run ends once the run ends, even if it never sees seq > 9.
        live = _run_id()
        await one.publish(live, "run_started", {"thread_id": "t", "message_id": "m"})
        reader = asyncio.create_task(_collect(two, live, 9))
        await _reading(two, live)
        await one.publish(live, "run_completed", {"status": "completed", "duration_ms": 1})
        assert await asyncio.wait_for(reader, 5) == []
    finally:
        await one.close()
        await two.close()


async def test_memory_reader_ahead_of_a_live_run_ends_with_the_run():
    bus = MemoryBus()
    run_id = _run_id()
    await bus.publish(run_id, "run_started", {"thread_id": "t", "message_id": "m"})
    reader = asyncio.create_task(_collect(bus, run_id, 9))
    await _reading(bus, run_id)
    await bus.publish(run_id, "run_completed", {"status": "completed", "duration_ms": 1})
    assert await asyncio.wait_for(reader, 5) == []
