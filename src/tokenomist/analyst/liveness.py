"""Runs whose instance died: found and ended by the instances still alive.

A run executes in the process that started it. That process keeps a heartbeat key in the cache
tier and tags each of its runs with its instance id. When a process dies without draining
(kill -9, a lost node), its heartbeat expires after ``3 * instance_heartbeat_s``; every
instance sweeps the unfinished runs in SQL, and the first to claim an orphan marks it failed
and publishes ``run_failed{code: "instance_stopped"}`` at the run's next ``seq``, so a reader
resuming on any instance sees the run end instead of waiting for ever.

Only with a shared cache tier (Redis, not its in-process fallback): in memory, no instance can
see another's heartbeat and every run of a sibling would look orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from tokenomist.analyst import events, repository
from tokenomist.kit import db
from tokenomist.kit.db import utcnow
from tokenomist.kit.resources import Resources
from tokenomist.kit.tasks import cancel_and_wait, cancel_requested

log = structlog.get_logger(__name__)
BEATS_TO_DEATH = 3
SWEEP_LIMIT = 200


def owner_key(run_id: str) -> str:
    return f"run-owner:{run_id}"


def _instance_key(instance_id: str) -> str:
    return f"instance:{instance_id}"


class Liveness:
    """This instance's heartbeat and its sweep for other instances' orphaned runs."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.instance_id = resources.instance_id
        self.beat_s = resources.settings.instance_heartbeat_s
        self._task: asyncio.Task[None] | None = None

    @property
    def ttl_s(self) -> float:
        return self.beat_s * BEATS_TO_DEATH

    def _shared(self) -> bool:
        cache = self.resources.cache
        return cache.backend == "redis" and not getattr(cache, "using_fallback", False)

    async def claim(self, run_id: str) -> None:
        """Tag a run as executed here (kept as long as a run may live)."""
        ttl = self.resources.settings.analyst_run_timeout_s + 300
        await self.resources.cache.set(owner_key(run_id), self.instance_id, ttl_s=ttl)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="analyst-liveness")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        with contextlib.suppress(Exception):
            await self.resources.cache.delete(_instance_key(self.instance_id))

    async def _loop(self) -> None:
        while not cancel_requested():
            try:
                cache = self.resources.cache
                await cache.set(_instance_key(self.instance_id), "1", ttl_s=self.ttl_s)
                manager = self.resources.run_manager
                # Re-tag this instance's runs: a tag written while Redis was down went to the
                # in-process fallback only.
                for run_id in list(manager.tasks if manager is not None else ()):
                    await self.claim(run_id)
                if self._shared():
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("analyst.liveness_failed", exc_info=True)
            await asyncio.sleep(self.beat_s)

    async def _orphaned(self, run_id: str, created_recently: bool) -> bool:
        cache = self.resources.cache
        owner = await cache.get(owner_key(run_id))
        if owner is None:
            # Not tagged yet (it starts this instant) or by a process that kept no tag.
            return not created_recently
        return owner != self.instance_id and not await cache.exists(_instance_key(owner))

    async def sweep(self) -> int:
        """End the orphaned runs this instance can claim; how many it ended."""
        res = self.resources
        recent = utcnow() - timedelta(seconds=self.ttl_s)
        async with res.sessions() as session:
            runs = await repository.list_unfinished(session, SWEEP_LIMIT)
        ended = 0
        for run_id, created_at in runs:
            if not await self._orphaned(run_id, created_at >= recent):
                continue
            claim = f"run-reap:{run_id}"
            if not await res.cache.set_if_absent(claim, self.instance_id, ttl_s=60):
                continue  # another instance is ending it
            message = (
                "the instance running this analysis stopped (no heartbeat for "
                f"{self.ttl_s:g} s) before it finished; ask again"
            )
            async with db.transaction(res.sessions) as session:
                failed = await repository.fail_unfinished(
                    session, run_id, code="instance_stopped", message=message
                )
            if failed:
                failure = events.run_failed("instance_stopped", message)
                await res.require_bus().publish(run_id, *failure)
                log.warning("analyst.orphan_run_failed", run_id=run_id)
                ended += 1
        return ended
