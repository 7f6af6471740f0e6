"""The run event bus: every event of a run, kept (bounded, TTL) so any reader can replay it.

A run's events get a per-run ``seq`` (1, 2, 3, … gap-free) when published. Readers call
``stream(run_id, after_seq)``: everything after ``after_seq`` is replayed, then live events
follow, and the iterator ends after the run's terminal event. Runs outlive sockets: a client
that reconnects resumes from the last ``seq`` it saw, on any instance.

Backends:
- ``MemoryBus`` — one process: a bounded ring per run, dropped ``ttl_s`` after its last event.
- ``ResilientBus`` — Redis Streams shared by all instances (``bus_redis.RedisStreamBus``) with
  an in-process mirror of the runs this instance publishes. When Redis fails, runs of this
  instance continue on the mirror with the next ``seq`` (no gap, no duplicate) and readers of
  those runs switch to it from the last ``seq`` they delivered. Once Redis answers again, the
  events it missed are re-published there under their own seqs, so readers on other
  instances see those runs whole (and the live ones go back to publishing on Redis).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import redis.asyncio as aioredis
import structlog

from tokenomist.kit.breaker import CircuitBreaker, CircuitOpen
from tokenomist.kit.netdiag import classify, mask_url
from tokenomist.kit.tasks import cancel_and_wait, cancel_requested
from tokenomist.realtime.protocol import ServerEvent, utc_now_iso, validate_event_data

if TYPE_CHECKING:
    from tokenomist.realtime.bus_redis import RedisStreamBus

log = structlog.get_logger(__name__)


class BusError(Exception):
    code = "stream_unavailable"


class EventsExpired(BusError):
    """The requested events were trimmed from the bounded store (ring/stream too short)."""

    code = "events_expired"


class BusUnavailable(BusError):
    """The shared store is unreachable and this instance holds no copy of the run."""

    code = "stream_unavailable"


class EventBus(Protocol):
    backend: str

    async def publish(self, run_id: str, type: str, data: dict) -> ServerEvent:
        """Store one event with the run's next ``seq`` (from 1, gap-free) and a UTC ``ts``."""
        ...

    async def replay(self, run_id: str, after_seq: int = 0) -> list[ServerEvent]: ...

    def stream(self, run_id: str, after_seq: int = 0) -> AsyncIterator[ServerEvent]:
        """Replay after ``after_seq``, then live; ends after ``run_completed``/``run_failed``."""
        ...

    async def close(self) -> None: ...


def _check(type: str, data: dict) -> str:
    """Validate a payload against the protocol and return the plain type name. The contract is
    enforced where events enter the system, not where they leave it."""
    validate_event_data(type, data)
    return str(type)  # an EventType member becomes its plain value


@dataclass
class _Run:
    events: deque[ServerEvent]
    last_seq: int = 0
    terminal: bool = False
    touched: float = 0.0
    ttl_s: float = 0.0
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def after(self, seq: int) -> list[ServerEvent]:
        if not self.events or seq >= self.last_seq:
            return []
        first = self.events[0].seq or 1
        if seq + 1 < first:
            raise EventsExpired(
                f"events {seq + 1}..{first - 1} of this run are no longer kept "
                f"(the store keeps the last {self.events.maxlen})"
            )
        start = seq + 1 - first
        return [self.events[i] for i in range(start, len(self.events))]


class MemoryBus:
    """In-process store: one bounded ring per run, at most ``max_runs`` runs (the least recently
    active run without a reader goes first), each dropped ``ttl_s`` after its last event.
    Single event loop; no locking needed."""

    backend = "memory"

    def __init__(
        self,
        max_events: int = 10_000,
        ttl_s: float = 24 * 3600,
        clock: Callable[[], float] = time.monotonic,
        max_runs: int = 10_000,
    ) -> None:
        self.max_events = max_events
        self.ttl_s = ttl_s
        self.max_runs = max_runs
        self._clock = clock
        self._runs: dict[str, _Run] = {}  # least recently active first
        self._readers: dict[str, int] = {}
        self._next_sweep = clock() + min(ttl_s, 30.0)

    def _run(self, run_id: str) -> _Run:
        run = self._runs.get(run_id)
        if run is None:
            run = _Run(deque(maxlen=self.max_events), touched=self._clock(), ttl_s=self.ttl_s)
            self._runs[run_id] = run
        return run

    def has_run(self, run_id: str) -> bool:
        """True when this store holds events of the run (not just a waiting reader)."""
        run = self._runs.get(run_id)
        return run is not None and run.last_seq > 0

    def last_seq(self, run_id: str) -> int:
        run = self._runs.get(run_id)
        return run.last_seq if run else 0

    def is_terminal(self, run_id: str) -> bool:
        run = self._runs.get(run_id)
        return run is not None and run.terminal

    def after(self, run_id: str, seq: int) -> list[ServerEvent]:
        """The stored events after ``seq`` (raises ``EventsExpired`` when trimmed)."""
        run = self._runs.get(run_id)
        return run.after(seq) if run else []

    async def publish(self, run_id: str, type: str, data: dict) -> ServerEvent:
        type = _check(type, data)
        run = self._run(run_id)
        event = ServerEvent(
            type=type, run_id=run_id, seq=run.last_seq + 1, ts=utc_now_iso(), data=data
        )
        self.append(event)
        return event

    def append(self, event: ServerEvent, ttl_s: float | None = None) -> None:
        """Store an event whose ``seq`` was assigned elsewhere (the Redis mirror). ``ttl_s``
        overrides how long the run is kept after this event."""
        assert event.run_id is not None and event.seq is not None
        run = self._run(event.run_id)
        run.ttl_s = self.ttl_s if ttl_s is None else ttl_s
        if event.seq <= run.last_seq:
            return  # already stored
        if event.seq != run.last_seq + 1:
            raise ValueError(
                f"run {event.run_id}: seq {event.seq} after {run.last_seq} would leave a gap"
            )
        run.events.append(event)
        run.last_seq = event.seq
        run.terminal = run.terminal or event.is_terminal
        run.touched = self._clock()
        self._runs[event.run_id] = self._runs.pop(event.run_id)  # now the most recent
        wake, run.wake = run.wake, asyncio.Event()
        wake.set()
        if run.touched >= self._next_sweep or len(self._runs) > self.max_runs:
            self._sweep()

    async def replay(self, run_id: str, after_seq: int = 0) -> list[ServerEvent]:
        run = self._runs.get(run_id)
        return run.after(after_seq) if run else []

    async def stream(self, run_id: str, after_seq: int = 0) -> AsyncIterator[ServerEvent]:
        run = self._run(run_id)
        self._readers[run_id] = self._readers.get(run_id, 0) + 1
        last = after_seq
        try:
            while True:
                wake = run.wake
                batch = run.after(last)
                for event in batch:
                    yield event
                    last = event.seq or last
                    if event.is_terminal:
                        return
                if not batch:
                    if run.terminal:
                        # Nothing after ``last`` and the run is over (the reader resumed at or
                        # past its last seq): no event will ever come, so don't wait for one.
                        return
                    await wake.wait()
                    run = self._runs.get(run_id) or self._run(run_id)
        finally:
            left = self._readers.get(run_id, 1) - 1
            if left:
                self._readers[run_id] = left
            else:
                self._readers.pop(run_id, None)

    def _sweep(self) -> None:
        now = self._clock()
        self._next_sweep = now + min(self.ttl_s, 30.0)
        excess = len(self._runs) - self.max_runs
        for run_id in [
            rid
            for rid, run in self._runs.items()
            if now - run.touched >= run.ttl_s and rid not in self._readers
        ]:
            del self._runs[run_id]
            excess -= 1
        for run_id in list(self._runs):
            if excess <= 0:
                break
            if run_id not in self._readers:
                del self._runs[run_id]
                excess -= 1

    async def close(self) -> None:
        self._runs.clear()


class ResilientBus:
    """Redis Streams first; this instance's runs continue on an in-process mirror when Redis
    fails. A run that fell back is *pinned*: it publishes on the mirror until Redis holds
    every event the mirror has (``rejoin``: tried before the run's next publish and every
    ``retry_s``/10 in the background), then publishes on Redis again. Until then readers on
    other instances see it only up to the failure."""

    backend = "redis"

    def __init__(
        self,
        primary: RedisStreamBus,
        mirror: MemoryBus,
        *,
        mirror_ttl_s: float = 600.0,
        retry_s: float = 30.0,
        rejoin_every_s: float = 3.0,
    ) -> None:
        self.primary = primary
        self.mirror = mirror
        # Runs stored in Redis stay in the mirror only while they may still need the fallback;
        # runs that fell back keep the mirror's full TTL (Redis never got their tail).
        self.mirror_ttl_s = mirror_ttl_s
        self.retry_s = retry_s
        self.rejoin_every_s = rejoin_every_s
        self.breaker = CircuitBreaker("redis-bus", failure_threshold=1, reset_after_s=2.0)
        self._pinned: set[str] = set()  # runs whose newest events only the mirror holds
        self._locks: dict[str, asyncio.Lock] = {}
        self._unsure: dict[str, tuple[int, str]] = {}  # run → (seq, id) Redis may also hold
        self._rejoiner: asyncio.Task | None = None

    @property
    def using_fallback(self) -> bool:
        return self.breaker.last_error is not None

    @property
    def pinned(self) -> frozenset[str]:
        """Runs whose events Redis lacks (other instances cannot see them whole yet)."""
        return frozenset(self._pinned)

    def _fail(self, what: str, exc: BaseException) -> None:
        cause = classify(exc)
        log.warning(
            "bus.fallback",
            redis=mask_url(self.primary.url),
            operation=what,
            kind=cause.kind,
            error=cause.message,
        )

    async def publish(self, run_id: str, type: str, data: dict) -> ServerEvent:
        type = _check(type, data)
        lock = self._locks.setdefault(run_id, asyncio.Lock())
        # One publisher at a time per run keeps the mirror in Redis's seq order.
        async with lock:
            event = await self._publish_locked(run_id, type, data)
        if event.is_terminal and run_id not in self._pinned:
            self._locks.pop(run_id, None)
        return event

    async def _publish_locked(self, run_id: str, type: str, data: dict) -> ServerEvent:
        if run_id in self._pinned and not await self._rejoin_locked(run_id):
            return await self._on_mirror(run_id, type, data)
        event_id = uuid.uuid4().hex  # the same id on the retry: Redis stores the event once
        try:
            event = await self.breaker.call(
                lambda: self.primary.publish(run_id, type, data, event_id=event_id)
            )
        except CircuitOpen:
            return await self._on_mirror(run_id, type, data)
        except (aioredis.TimeoutError, TimeoutError) as exc:
            # The reply was lost, not necessarily the command: Redis may hold the event. One
            # retry with the same id tells (past the breaker, which just opened).
            self._fail("publish", exc)
            try:
                event = await self.primary.publish(run_id, type, data, event_id=event_id)
            except (aioredis.RedisError, OSError, TimeoutError) as again:
                self._fail("publish_retry", again)
                return await self._on_mirror(run_id, type, data, maybe_stored=event_id)
            self.breaker.record_success()  # Redis answered after all: one slow reply
        except (aioredis.RedisError, OSError) as exc:
            self._fail("publish", exc)
            return await self._on_mirror(run_id, type, data)
        self.mirror.append(event, ttl_s=self.mirror_ttl_s)
        return event

    async def _on_mirror(
        self, run_id: str, type: str, data: dict, maybe_stored: str | None = None
    ) -> ServerEvent:
        """Publish on the mirror, next to the seqs Redis gave this run so far. If Redis did
        run a publish whose reply was lost (``maybe_stored``: its event id), it holds the same
        event under the same seq: the mirror had the seqs before it, so both count from the
        same place; the rejoin writes that id with it, so a late copy is recognised."""
        self._pinned.add(run_id)
        self._ensure_rejoiner()
        event = await self.mirror.publish(run_id, type, data)
        if maybe_stored is not None and event.seq is not None:
            self._unsure[run_id] = (event.seq, maybe_stored)
        return event

    async def _rejoin_locked(self, run_id: str) -> bool:
        """Copy the events Redis lacks from the mirror (their own seqs, idempotent), then
        unpin the run. False (still pinned) while Redis cannot take them."""
        try:
            last = await self.breaker.call(lambda: self.primary.last_seq(run_id))
            unsure_seq, unsure_id = self._unsure.get(run_id, (0, ""))
            for event in self.mirror.after(run_id, last):
                same = event.seq == unsure_seq
                await self.primary.append(event, event_id=unsure_id if same else "")
        except CircuitOpen:
            return False
        except EventsExpired as exc:
            # The mirror's ring no longer has what Redis lacks: stay local for good.
            log.warning("bus.rejoin_impossible", run_id=run_id, error=str(exc))
            return False
        except (aioredis.RedisError, OSError, TimeoutError) as exc:
            self._fail("rejoin", exc)
            return False
        self._pinned.discard(run_id)
        self._unsure.pop(run_id, None)
        if self.mirror.is_terminal(run_id):
            self._locks.pop(run_id, None)
        log.info("bus.rejoined", run_id=run_id, redis=mask_url(self.primary.url), last_seq=last)
        return True

    async def rejoin(self) -> int:
        """Try to hand every pinned run back to Redis; returns how many remain pinned."""
        for run_id in list(self._pinned):
            if not self.mirror.has_run(run_id):  # evicted from the mirror: nothing to copy
                self._pinned.discard(run_id)
                self._unsure.pop(run_id, None)
                continue
            lock = self._locks.setdefault(run_id, asyncio.Lock())
            async with lock:
                if run_id in self._pinned:
                    await self._rejoin_locked(run_id)
        return len(self._pinned)

    def _ensure_rejoiner(self) -> None:
        if self._rejoiner is None or self._rejoiner.done():
            self._rejoiner = asyncio.create_task(self._rejoin_loop(), name="bus-rejoin")

    async def _rejoin_loop(self) -> None:
        # Runs that ended (or went quiet) while pinned have no next publish to rejoin them.
        while self._pinned and not cancel_requested():
            await asyncio.sleep(self.rejoin_every_s)
            try:
                await self.rejoin()
            except Exception:  # never let the loop die silently with runs still pinned
                log.exception("bus.rejoin_failed")

    async def replay(self, run_id: str, after_seq: int = 0) -> list[ServerEvent]:
        if self.mirror.has_run(run_id):
            return await self.mirror.replay(run_id, after_seq)
        try:
            return await self.primary.replay(run_id, after_seq)
        except (aioredis.RedisError, OSError, TimeoutError) as exc:
            self._fail("replay", exc)
            raise BusUnavailable(
                f"run events unavailable: Redis at {mask_url(self.primary.url)}: "
                f"{classify(exc).message}"
            ) from exc

    async def stream(self, run_id: str, after_seq: int = 0) -> AsyncIterator[ServerEvent]:
        last = after_seq
        down_since: float | None = None
        while True:
            if self.mirror.has_run(run_id):
                # This instance publishes the run: its mirror is complete and wakes readers
                # without a round trip.
                async for event in self.mirror.stream(run_id, last):
                    yield event
                return
            try:
                async for event in self.primary.tail(run_id, last, stop=self.mirror.has_run):
                    down_since = None
                    yield event
                    last = event.seq or last
                    if event.is_terminal:
                        return
                # tail() stopped because the run became local: continue on the mirror.
            except (aioredis.RedisError, OSError, TimeoutError) as exc:
                if self.mirror.has_run(run_id):
                    continue
                now = time.monotonic()
                down_since = down_since or now
                if now - down_since > self.retry_s:
                    raise BusUnavailable(
                        f"run events unavailable: Redis at {mask_url(self.primary.url)}: "
                        f"{classify(exc).message}"
                    ) from exc
                self._fail("stream", exc)
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        await cancel_and_wait(self._rejoiner)
        await self.primary.close()
        await self.mirror.close()
