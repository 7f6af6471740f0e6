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


class ConnectionSlots:
    """Open WebSockets per user on this instance. Held in process, not in the cache tier: a
    count there would outlive an instance that crashed with sockets open, locking users out;
    the cap is per instance (N instances let a user hold N times the cap)."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def acquire(self, user_id: str, cap: int) -> bool:
        # No await between the check and the count: concurrent handshakes cannot both pass.
        held = self._open.get(user_id, 0)
        if held >= cap:
            return False
        self._open[user_id] = held + 1
        return True

    def held(self, user_id: str) -> int:
        return self._open.get(user_id, 0)

    def release(self, user_id: str) -> None:
        held = self._open.get(user_id, 0) - 1
        if held > 0:
            self._open[user_id] = held
        else:
            self._open.pop(user_id, None)


def connection_slots(resources: Resources) -> ConnectionSlots:
    if resources.ws_slots is None:
        resources.ws_slots = ConnectionSlots()
    return resources.ws_slots
