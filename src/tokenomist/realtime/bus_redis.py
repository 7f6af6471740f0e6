"""Redis Streams store for run events, shared by every instance.

One stream per run, ``<prefix>run:<run_id>:events``, whose entry IDs are ``<seq>-0``: a Lua
script increments the run's counter and appends the entry in one atomic step, so ``seq`` is
gap-free whichever instance publishes, and "everything after seq N" is simply the entries after
ID ``N-0`` (XRANGE for replay, XREAD BLOCK for the live tail). Both keys get the TTL on every
append; the stream is capped with MAXLEN. Pub/sub is not used: XREAD BLOCK is the wake-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from tokenomist.realtime.bus import EventsExpired
from tokenomist.realtime.protocol import ServerEvent, utc_now_iso

# KEYS: stream, counter. ARGV: maxlen, type, ts, data, ttl_s.
_PUBLISH = """
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], seq .. '-0',
           't', ARGV[2], 'ts', ARGV[3], 'd', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return seq
"""


class RedisStreamBus:
    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "",
        max_events: int = 10_000,
        ttl_s: int = 24 * 3600,
        block_ms: int = 5_000,
        max_connections: int = 1_000,
        timeout_s: float = 2.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.max_events = max_events
        self.ttl_s = int(ttl_s)
        self.block_ms = block_ms
        # A client of its own: blocking reads must not starve the cache tier's pool, and their
        # socket timeout has to outlast one BLOCK slice.
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=timeout_s,
            socket_timeout=block_ms / 1000 + timeout_s,
            max_connections=max_connections,
        )
        self._publish = self.client.register_script(_PUBLISH)

    def _keys(self, run_id: str) -> tuple[str, str]:
        base = f"{self.prefix}run:{run_id}"
        return base + ":events", base + ":seq"

    async def publish(self, run_id: str, type: str, data: dict) -> ServerEvent:
        stream, counter = self._keys(run_id)
        ts = utc_now_iso()
        seq = await self._publish(
            keys=[stream, counter],
            args=[self.max_events, type, ts, orjson.dumps(data).decode(), self.ttl_s],
        )
        return ServerEvent(type=type, run_id=run_id, seq=int(seq), ts=ts, data=data)

    @staticmethod
    def _event(run_id: str, entry_id: str, fields: dict[str, str]) -> ServerEvent:
        return ServerEvent(
            type=fields["t"],
            run_id=run_id,
            seq=int(entry_id.split("-", 1)[0]),
            ts=fields["ts"],
            data=orjson.loads(fields["d"]),
        )

    def _checked(self, run_id: str, after_seq: int, entries: Any) -> list[ServerEvent]:
        events = [self._event(run_id, eid, fields) for eid, fields in entries]
        if events and events[0].seq != after_seq + 1:
            raise EventsExpired(
                f"events {after_seq + 1}..{(events[0].seq or 1) - 1} of this run are no longer "
                f"kept (the stream keeps about the last {self.max_events})"
            )
        return events

    async def replay(self, run_id: str, after_seq: int = 0) -> list[ServerEvent]:
        stream, _ = self._keys(run_id)
        entries: Any = await self.client.xrange(stream, min=f"{after_seq + 1}-0", max="+")
        return self._checked(run_id, after_seq, entries)

    async def tail(
        self, run_id: str, after_seq: int = 0, stop: Callable[[str], bool] | None = None
    ) -> AsyncIterator[ServerEvent]:
        """Events after ``after_seq``, blocking for new ones; ends after the terminal event, or
        between BLOCK slices when ``stop(run_id)`` turns true."""
        stream, _ = self._keys(run_id)
        last = after_seq
        idle = True  # nothing read since the last check whether the run is already over
        while True:
            if stop is not None and stop(run_id):
                return
            if idle and await self._ended_by(stream, last):
                return
            reply: Any = await self.client.xread(
                {stream: f"{last}-0"}, count=500, block=self.block_ms
            )
            idle = not reply
            if not reply:
                continue
            for event in self._checked(run_id, last, reply[0][1]):
                yield event
                last = event.seq or last
                if event.is_terminal:
                    return

    async def _ended_by(self, stream: str, seq: int) -> bool:
        """True when the run's terminal event has a seq ≤ ``seq``: a reader there (resumed at or
        past the end) would otherwise block forever, holding a connection of the pool."""
        entries: Any = await self.client.xrevrange(stream, max="+", min="-", count=1)
        if not entries:
            return False
        event = self._event("", entries[0][0], entries[0][1])
        return event.is_terminal and (event.seq or 0) <= seq

    async def stream(self, run_id: str, after_seq: int = 0) -> AsyncIterator[ServerEvent]:
        async for event in self.tail(run_id, after_seq):
            yield event

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
