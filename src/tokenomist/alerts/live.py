"""Announcing alert events to the org's open WebSockets as ``alert`` frames, once they are
committed (a frame for an event that was rolled back would announce nothing real)."""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from tokenomist.alerts.delivery import event_body
from tokenomist.alerts.models import AlertEvent
from tokenomist.kit.resources import Resources

log = structlog.get_logger(__name__)


async def announce(resources: Resources, events: Iterable[AlertEvent]) -> None:
    """Push each committed event to every connected user of its org, on any instance. A failed
    push is logged, never raised: the event and its deliveries are already kept."""
    notifier = resources.notifier
    if notifier is None:
        return
    for event in events:
        try:
            await notifier.publish(event.org_id, "alert", event_body(event))
        except Exception:
            log.warning("alerts.announce_failed", event_id=event.id, exc_info=True)
