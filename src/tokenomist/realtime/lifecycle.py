"""Starts the run event bus (``resources.bus``) before the analyst needs it: in-process, or
Redis Streams behind the in-process mirror when Redis is configured."""

from __future__ import annotations

import structlog

from tokenomist.kit.netdiag import mask_url
from tokenomist.kit.resources import Resources
from tokenomist.realtime.bus import MemoryBus, ResilientBus
from tokenomist.realtime.bus_redis import RedisStreamBus
from tokenomist.settings import Settings

log = structlog.get_logger(__name__)


async def start(resources: Resources) -> None:
    bus = build_bus(resources.settings)
    resources.bus = bus
    log.info(
        "realtime.bus_ready",
        backend=bus.backend,
        redis=mask_url(resources.settings.redis_url) if resources.settings.redis_url else None,
    )


async def stop(resources: Resources) -> None:
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
