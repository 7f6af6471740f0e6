"""Per-user limits of the gateway. Counters live in the cache tier so they hold across all of a
user's connections and, with Redis, across instances."""

from __future__ import annotations

from tokenomist.kit.resources import Resources

WINDOW_S = 60.0


async def allow_frame(resources: Resources, user_id: str) -> bool:
    """Fixed one-minute window of client frames per user (every frame type counts, so a ping
    flood is limited too)."""
    count = await resources.cache.incr(f"ws:frames:{user_id}", WINDOW_S)
    return count <= resources.settings.ws_messages_per_minute
