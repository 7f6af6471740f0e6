"""Cache tier: token revocation, rate limits, small shared state.

One interface, two backends: Redis (shared across instances, survives restarts) and an
in-process store. ``ResilientCache`` wraps Redis and serves from the in-process store while
Redis is unreachable, so no request fails because of the cache tier; health reports it as
degraded meanwhile.
"""

from __future__ import annotations

import time
from typing import Protocol

import redis.asyncio as aioredis
import structlog

from tokenomist.kit.breaker import CircuitBreaker, CircuitOpen
from tokenomist.kit.netdiag import Cause, classify, mask_url

log = structlog.get_logger(__name__)


class Cache(Protocol):
    @property
    def backend(self) -> str: ...

    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None: ...
    async def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool: ...
    async def delete(self, key: str) -> None: ...
    async def exists(self, key: str) -> bool: ...
    async def incr(self, key: str, ttl_s: float) -> int:
        """Increment a counter; the TTL starts with the first increment of a window."""
        ...

    async def ttl(self, key: str) -> float | None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class MemoryCache:
    """In-process cache with per-key expiry. Single event loop; no locking needed."""

    backend = "memory"

    def __init__(self, prefix: str = "", clock=time.monotonic) -> None:
        self._prefix = prefix
        self._data: dict[str, tuple[str, float | None]] = {}
        self._clock = clock

    def _k(self, key: str) -> str:
        return self._prefix + key

    def _live(self, key: str) -> tuple[str, float | None] | None:
        item = self._data.get(self._k(key))
        if item is None:
            return None
        if item[1] is not None and item[1] <= self._clock():
            del self._data[self._k(key)]
            return None
        return item

    def _expiry(self, ttl_s: float | None) -> float | None:
        return None if ttl_s is None else self._clock() + ttl_s

    async def get(self, key: str) -> str | None:
        item = self._live(key)
        return item[0] if item else None

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        self._data[self._k(key)] = (value, self._expiry(ttl_s))
        if len(self._data) > 100_000:
            self._evict_expired()

    async def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        if self._live(key) is not None:
            return False
        await self.set(key, value, ttl_s)
        return True

    async def delete(self, key: str) -> None:
        self._data.pop(self._k(key), None)

    async def exists(self, key: str) -> bool:
        return self._live(key) is not None

    async def incr(self, key: str, ttl_s: float) -> int:
        item = self._live(key)
        if item is None:
            self._data[self._k(key)] = ("1", self._expiry(ttl_s))
            return 1
        value = int(item[0]) + 1
        self._data[self._k(key)] = (str(value), item[1])
        return value

    async def ttl(self, key: str) -> float | None:
        item = self._live(key)
        if item is None or item[1] is None:
            return None
        return max(0.0, item[1] - self._clock())

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()

    def _evict_expired(self) -> None:
        now = self._clock()
        for k in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
            del self._data[k]


class RedisCache:
    backend = "redis"

    def __init__(self, url: str, prefix: str = "", timeout_s: float = 2.0) -> None:
        self.url = url
        self._prefix = prefix
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            health_check_interval=30,
        )

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> str | None:
        value = await self.client.get(self._k(key))
        return value if value is None or isinstance(value, str) else value.decode()

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        await self.client.set(self._k(key), value, px=_ms(ttl_s))

    async def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        return bool(await self.client.set(self._k(key), value, px=_ms(ttl_s), nx=True))

    async def delete(self, key: str) -> None:
        await self.client.delete(self._k(key))

    async def exists(self, key: str) -> bool:
        return bool(await self.client.exists(self._k(key)))

    async def incr(self, key: str, ttl_s: float) -> int:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(self._k(key))
            pipe.pexpire(self._k(key), max(1, int(ttl_s * 1000)), nx=True)
            value, _ = await pipe.execute()
        return int(value)

    async def ttl(self, key: str) -> float | None:
        ms = await self.client.pttl(self._k(key))
        return None if ms < 0 else ms / 1000

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()


def _ms(ttl_s: float | None) -> int | None:
    return None if ttl_s is None else max(1, int(ttl_s * 1000))


class ResilientCache:
    """Redis first; the in-process store while Redis fails (behind a circuit breaker).

    What was written to the fallback stays there: after Redis returns, reads go to Redis
    again. That is the documented trade-off of an optional cache tier.
    """

    def __init__(self, primary: RedisCache, fallback: MemoryCache) -> None:
        self.primary = primary
        self.fallback = fallback
        self.breaker = CircuitBreaker("redis", failure_threshold=1, reset_after_s=2.0)
        self.last_cause: Cause | None = None

    @property
    def backend(self) -> str:
        return self.primary.backend

    @property
    def url(self) -> str:
        return self.primary.url

    @property
    def using_fallback(self) -> bool:
        return self.breaker.last_error is not None

    async def _run(self, name: str, *args):
        try:
            return await self.breaker.call(lambda: getattr(self.primary, name)(*args))
        except CircuitOpen:
            pass
        except (TimeoutError, aioredis.RedisError, OSError) as exc:
            self.last_cause = classify(exc)
            log.warning(
                "cache.fallback",
                redis=mask_url(self.primary.url),
                kind=self.last_cause.kind,
                error=self.last_cause.message,
            )
        return await getattr(self.fallback, name)(*args)

    async def get(self, key: str) -> str | None:
        return await self._run("get", key)

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        await self._run("set", key, value, ttl_s)

    async def set_if_absent(self, key: str, value: str, ttl_s: float | None = None) -> bool:
        return await self._run("set_if_absent", key, value, ttl_s)

    async def delete(self, key: str) -> None:
        await self._run("delete", key)

    async def exists(self, key: str) -> bool:
        return await self._run("exists", key)

    async def incr(self, key: str, ttl_s: float) -> int:
        return await self._run("incr", key, ttl_s)

    async def ttl(self, key: str) -> float | None:
        return await self._run("ttl", key)

    async def ping(self) -> None:
        """Health probe: always asks Redis itself (never the fallback) and updates the breaker."""
        try:
            await self.primary.ping()
        except Exception as exc:
            self.breaker.record_failure(exc)
            self.last_cause = classify(exc)
            raise
        self.breaker.record_success()
        self.last_cause = None

    async def close(self) -> None:
        await self.primary.close()
        await self.fallback.close()


def build_cache(redis_url: str, prefix: str, timeout_s: float) -> MemoryCache | ResilientCache:
    if not redis_url:
        return MemoryCache(prefix)
    return ResilientCache(RedisCache(redis_url, prefix, timeout_s), MemoryCache(prefix))
