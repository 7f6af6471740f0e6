"""Starts the run event bus (``resources.services["bus"]``) before the analyst needs it."""

from __future__ import annotations

import structlog

from tokenomist.kit.netdiag import mask_url
from tokenomist.kit.resources import Resources
from tokenomist.realtime.bus import build_bus

log = structlog.get_logger(__name__)


async def start(resources: Resources) -> None:
    bus = build_bus(resources.settings)
    resources.services["bus"] = bus
    log.info(
        "realtime.bus_ready",
        backend=bus.backend,
        redis=mask_url(resources.settings.redis_url) if resources.settings.redis_url else None,
    )


async def stop(resources: Resources) -> None:
    bus = resources.services.pop("bus", None)
    if bus is not None:
        await bus.close()
