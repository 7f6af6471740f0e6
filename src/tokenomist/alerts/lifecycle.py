"""The alert engine: one loop per process that evaluates budgets and delivers due events.

It wakes on a schedule (``alerts_eval_interval_s``), when an ingest pokes it, and when a
retry falls due. One evaluator at a time: on PostgreSQL (the tier every instance shares) a
session advisory lock elects it and the other instances skip the cycle; on the embedded SQLite
default an in-process lock suffices. The unique dedup key on events keeps a threshold to one
event even if two evaluators ever overlapped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import text

from tokenomist.alerts import service
from tokenomist.kit.resources import Resources
from tokenomist.kit.tasks import cancel_and_wait, cancel_requested

log = structlog.get_logger(__name__)
LOCK_KEY = 0x70CE_A1E7  # the advisory lock id of the alert evaluator
UNLOCK_TIMEOUT_S = 5.0


@dataclass
class Cycle:
    led: bool
    fired: int = 0
    delivered: int = 0
    errors: list[str] = field(default_factory=list)


class AlertEngine:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self._wake = asyncio.Event()
        self._local = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._next_due: datetime | None = None

    def poke(self) -> None:
        """Ask for a cycle soon (after an ingest or a budget change); never blocks."""
        self._wake.set()

    async def run_cycle(self) -> Cycle:
        """Evaluate every budget, then deliver what is due — if this instance leads."""
        async with self._local, self._leader() as led:
            if not led:
                # The leader delivers; waiting a full interval keeps a due retry from making
                # this instance spin on the lock.
                self._next_due = None
                return Cycle(led=False)
            fired = await service.evaluate_all(self.resources)
            delivered = await service.deliver_due(self.resources)
            self._next_due = await service.next_due(self.resources)
            return Cycle(led=True, fired=len(fired), delivered=delivered)

    @contextlib.asynccontextmanager
    async def _leader(self) -> AsyncIterator[bool]:
        engine = self.resources.engine
        if engine.dialect.name != "postgresql":
            yield True
            return
        async with engine.connect() as conn:
            got = await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
            led = bool(got.scalar())
            try:
                yield led
            finally:
                if led:
                    try:
                        # Bounded: on a connection the network has gone silent on, an unbounded
                        # unlock would hold the engine (and a shutdown cancelling it) forever.
                        async with asyncio.timeout(UNLOCK_TIMEOUT_S):
                            unlock = text("SELECT pg_advisory_unlock(:k)")
                            await conn.execute(unlock, {"k": LOCK_KEY})
                    except BaseException:
                        # A session lock outlives a pooled connection's rollback: close this one
                        # rather than hand a locked connection back to the pool (closing it
                        # ends the session, which releases the lock server-side).
                        await conn.invalidate()
                        raise

    def _timeout(self) -> float:
        interval = self.resources.settings.alerts_eval_interval_s
        if self._next_due is None:
            return interval
        wait = (self._next_due - service.now_utc()).total_seconds()
        return max(0.0, min(interval, wait))

    async def _loop(self) -> None:
        while not cancel_requested():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._timeout())
            if cancel_requested():  # a wake that came with the cancel: no cycle on the way out
                return
            self._wake.clear()
            try:
                await self.run_cycle()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database blip must not end the loop; the next cycle retries
                log.exception("alerts.cycle_failed")
                self._next_due = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="alerts-engine")
        self._wake.set()  # a cycle at start-up picks up retries left by the last run

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None


async def start(resources: Resources) -> None:
    engine = AlertEngine(resources)
    engine.start()
    resources.alerts = engine


async def stop(resources: Resources) -> None:
    if resources.alerts is not None:
        await resources.alerts.stop()
        resources.alerts = None
