"""The cache interface behaves the same on Redis and in-process."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from tests.support.servers import free_port
from tokenomist.kit.cache import MemoryCache, RedisCache, ResilientCache, build_cache


@pytest.fixture
async def cache(cache_backend, request):
    if cache_backend == "memory":
        c = MemoryCache("t:")
    else:
        c = RedisCache(
            request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        )
    yield c
    await c.close()


async def test_set_get_delete(cache):
    assert await cache.get("a") is None
    await cache.set("a", "1")
    assert await cache.get("a") == "1"
    assert await cache.exists("a")
    await cache.delete("a")
    assert not await cache.exists("a")


async def test_ttl_expires(cache):
    await cache.set("short", "x", ttl_s=0.05)
    assert 0 < (await cache.ttl("short")) <= 0.05
    await asyncio.sleep(0.1)
    assert await cache.get("short") is None


async def test_incr_counts_within_one_window(cache):
    assert await cache.incr("n", ttl_s=10) == 1
    assert await cache.incr("n", ttl_s=10) == 2
    ttl = await cache.ttl("n")
    assert ttl is not None and 9 < ttl <= 10


async def test_set_if_absent_only_once(cache):
    assert await cache.set_if_absent("once", "a", ttl_s=10)
    assert not await cache.set_if_absent("once", "b", ttl_s=10)
    assert await cache.get("once") == "a"


async def test_unreachable_redis_falls_back_without_failing_requests():
    cache = build_cache(f"redis://127.0.0.1:{free_port()}/0", "t:", timeout_s=0.5)
    assert isinstance(cache, ResilientCache)
    await cache.set("k", "v", ttl_s=10)  # served by the in-process fallback
    assert await cache.get("k") == "v"
    assert await cache.incr("c", ttl_s=10) == 1
    assert cache.using_fallback
    assert cache.last_cause is not None and cache.last_cause.kind == "refused"
    with pytest.raises(aioredis.ConnectionError):
        await cache.ping()  # health still asks Redis itself
    await cache.close()


async def test_resilient_cache_uses_redis_when_up(redis_url, redis_prefix):
    cache = build_cache(redis_url, redis_prefix, timeout_s=1)
    await cache.set("k", "v")
    assert await cache.primary.get("k") == "v"
    assert not cache.using_fallback
    await cache.close()
