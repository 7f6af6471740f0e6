"""Redis Streams store for run events, shared by every instance.

One stream per run, ``<prefix>run:<run_id>:events``, whose entry IDs are ``<seq>-0``: a Lua
script increments the run's counter and appends the entry in one atomic step, so ``seq`` is
gap-free whichever instance publishes, and "everything after seq N" is simply the entries after
ID ``N-0`` (XRANGE for replay, XREAD BLOCK for the live tail). Both keys get the TTL on every
append; the stream is capped with MAXLEN. Pub/sub is not used: XREAD BLOCK is the wake-up.

Publishing is idempotent on an event id chosen by the publisher: the script first looks at the
stream's last entry and, when it already carries that id, answers its seq instead of adding
another. So a publish whose reply was lost (a timeout after Redis ran it) can be retried with
the same id and never yields two seqs for one event. (One publisher per run at a time, the
``ResilientBus`` lock, makes "the last entry" the only place a retried event can be.)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from tokenomist.realtime.bus import EventsExpired
from tokenomist.realtime.protocol import ServerEvent, utc_now_iso

# KEYS: stream, counter. ARGV: maxlen, type, ts, data, ttl_s, event_id.
# Returns {seq, ts}: of the new entry, or of the entry already holding this event id.
_PUBLISH = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if last then
  local f = last[2]
  local id, ts = nil, nil
  for i = 1, #f, 2 do
    if f[i] == 'e' then id = f[i + 1] elseif f[i] == 'ts' then ts = f[i + 1] end
  end
  if id == ARGV[6] then
    return {tonumber(string.match(last[1], '^(%d+)')), ts}
  end
end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], seq .. '-0',
           't', ARGV[2], 'ts', ARGV[3], 'd', ARGV[4], 'e', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return {seq, ARGV[3]}
"""

# Store an event whose seq was assigned elsewhere (an in-process fallback, re-published once
# Redis is back). KEYS: stream, counter. ARGV: maxlen, seq, type, ts, data, ttl_s, event_id.
# Returns the run's last seq in Redis afterwards; an event at or below it is already there,
# one past it would leave a gap and is refused.
_APPEND = """
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local seq = tonumber(ARGV[2])
if seq <= last then return last end
if seq ~= last + 1 then return redis.error_reply('GAP ' .. last) end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], seq .. '-0',
           't', ARGV[3], 'ts', ARGV[4], 'd', ARGV[5], 'e', ARGV[7])
redis.call('SET', KEYS[2], seq)
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
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
        self._append = self.client.register_script(_APPEND)

    def _keys(self, run_id: str) -> tuple[str, str]:
        base = f"{self.prefix}run:{run_id}"
        return base + ":events", base + ":seq"

    async def publish(
        self, run_id: str, type: str, data: dict, *, event_id: str | None = None
    ) -> ServerEvent:
        """Append one event with the run's next seq. Retrying with the same ``event_id``
        after a lost reply returns the stored event instead of adding it twice."""
        stream, counter = self._keys(run_id)
        event_id = event_id or uuid.uuid4().hex
        seq, ts = await self._publish(
            keys=[stream, counter],
            args=[
                self.max_events, type, utc_now_iso(), orjson.dumps(data).decode(), self.ttl_s,
                event_id,
            ],
        )  # fmt: skip
        return ServerEvent(type=type, run_id=run_id, seq=int(seq), ts=ts, data=data)

    async def append(self, event: ServerEvent, *, event_id: str = "") -> int:
        """Store an event whose seq was assigned elsewhere; a no-op when Redis already holds
        that seq. ``event_id``: the id a lost publish of this event used, so a late copy of
        that publish finds it. Returns the run's last seq in Redis."""
        assert event.run_id is not None and event.seq is not None
        stream, counter = self._keys(event.run_id)
        data = orjson.dumps(event.data).decode()
        last = await self._append(
            keys=[stream, counter],
            args=[self.max_events, event.seq, event.type, event.ts, data, self.ttl_s, event_id],
        )
        return int(last)

    async def last_seq(self, run_id: str) -> int:
        """The run's last seq in Redis (0: Redis holds none of it)."""
        _, counter = self._keys(run_id)
        value = await self.client.get(counter)
        return int(value or 0)

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
