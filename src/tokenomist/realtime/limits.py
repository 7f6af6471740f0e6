"""Per-user limits of the gateway. Counters live in the cache tier so they hold across all of a
user's connections and, with Redis, across instances."""

from __future__ import annotations

from tokenomist.kit.resources import Resources


async def allow_frame(resources: Resources, user_id: str) -> bool:
    """Fixed window of client frames per user (every frame type counts, so a ping flood is
    limited too); the window starts with the first frame."""
    s = resources.settings
    count = await resources.cache.incr(f"ws:frames:{user_id}", s.ws_rate_window_s)
    return count <= s.ws_rate_limit
