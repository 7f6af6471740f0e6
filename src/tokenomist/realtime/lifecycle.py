"""Starts the run event bus (``resources.bus``) before the analyst needs it: in-process, or
Redis Streams behind the in-process mirror when Redis is configured; and the notifier of
org-wide frames (``resources.notifier``), in-process or over Redis pub/sub likewise."""

from __future__ import annotations

import asyncio

import structlog

from tokenomist.kit.netdiag import mask_url
from tokenomist.kit.resources import Resources
from tokenomist.realtime.bus import MemoryBus, ResilientBus
from tokenomist.realtime.bus_redis import RedisStreamBus
from tokenomist.realtime.notify import LocalNotifier, Notifier, RedisNotifier
from tokenomist.realtime.protocol import CLOSE_SERVICE_RESTART
from tokenomist.settings import Settings

log = structlog.get_logger(__name__)


async def start(resources: Resources) -> None:
    bus = build_bus(resources.settings)
    resources.bus = bus
    notifier = build_notifier(resources.settings)
    await notifier.start()
    resources.notifier = notifier
    log.info(
        "realtime.bus_ready",
        backend=bus.backend,
        redis=mask_url(resources.settings.redis_url) if resources.settings.redis_url else None,
    )


async def drain(resources: Resources) -> None:
    """SIGTERM: close every open WebSocket with 1012 (service restart) so its client reconnects
    through the load balancer to another instance and resumes by ``seq``; the runs go on."""
    sockets = list(resources.sockets)
    await asyncio.gather(
        *(c.close(CLOSE_SERVICE_RESTART, "service restart") for c in sockets),
        return_exceptions=True,
    )
    log.info("realtime.drained", websockets_closed=len(sockets))


async def stop(resources: Resources) -> None:
    notifier, resources.notifier = resources.notifier, None
    if notifier is not None:
        await notifier.close()
    bus, resources.bus = resources.bus, None
    if bus is not None:
        await bus.close()


def build_bus(settings: Settings) -> MemoryBus | ResilientBus:
    mirror = MemoryBus(
        settings.bus_max_events_per_run, settings.bus_ttl_s, max_runs=settings.bus_max_runs
    )
    if not settings.redis_url:
        return mirror
    primary = RedisStreamBus(
        settings.redis_url,
        prefix=settings.cache_prefix,
        max_events=settings.bus_max_events_per_run,
        ttl_s=settings.bus_ttl_s,
        block_ms=settings.bus_block_ms,
        max_connections=settings.bus_redis_max_connections,
        timeout_s=min(settings.startup_timeout_s, 2.0),
    )
    return ResilientBus(primary, mirror, mirror_ttl_s=settings.bus_mirror_ttl_s)


def build_notifier(settings: Settings) -> Notifier:
    if not settings.redis_url:
        return LocalNotifier()
    return RedisNotifier(
        settings.redis_url,
        prefix=settings.cache_prefix,
        timeout_s=min(settings.startup_timeout_s, 2.0),
    )
