"""Org-wide frames (``alert``): pushed to every open WebSocket of an org's users, on any instance.

Run events are kept and replayed (``bus``); these frames are live notices and are not: what
they announce is kept by its domain (alert events are listed by ``GET /api/v1/alerts``), so a
socket that was closed at the time reads it there.

- ``LocalNotifier`` — one process: each open socket holds a bounded queue per org.
- ``RedisNotifier`` — one Redis pub/sub channel (``<prefix>org-frames``) shared by every
  instance; each instance listens and hands a message to its own sockets of that org, so a
  frame reaches each socket once whichever instance published it. When Redis cannot take a
  publish, the frame still reaches this instance's sockets; the listener reconnects with
  backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import redis.asyncio as aioredis
import structlog

from tokenomist.kit.netdiag import classify, mask_url
from tokenomist.kit.tasks import cancel_and_wait, cancel_requested
from tokenomist.realtime.protocol import EventType, ServerEvent, server_frame, validate_event_data

log = structlog.get_logger(__name__)
QUEUE_FRAMES = 100  # per socket: a client that reads nothing loses the oldest notices, not memory
ORG_FRAME_TYPES = frozenset({EventType.alert})


class LocalNotifier:
    backend = "memory"

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[ServerEvent]]] = {}

    def subscribe(self, org_id: str) -> asyncio.Queue[ServerEvent]:
        queue: asyncio.Queue[ServerEvent] = asyncio.Queue(QUEUE_FRAMES)
        self._queues.setdefault(org_id, set()).add(queue)
        return queue

    def unsubscribe(self, org_id: str, queue: asyncio.Queue[ServerEvent]) -> None:
        queues = self._queues.get(org_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[org_id]

    def subscribers(self, org_id: str) -> int:
        return len(self._queues.get(org_id, ()))

    def fan_out(self, org_id: str, event: ServerEvent) -> int:
        """Hand ``event`` to this instance's sockets of the org; how many got it."""
        queues = self._queues.get(org_id, set())
        for queue in queues:
            if queue.full():
                queue.get_nowait()  # drop the oldest notice of a socket that is not reading
            queue.put_nowait(event)
        return len(queues)

    @staticmethod
    def frame(type: EventType | str, data: dict[str, Any]) -> ServerEvent:
        kind = EventType(type)
        if kind not in ORG_FRAME_TYPES:
            raise ValueError(f"{kind.value!r} is not an org-wide frame type")
        validate_event_data(kind, data)
        return server_frame(kind, data)

    async def publish(self, org_id: str, type: EventType | str, data: dict[str, Any]) -> None:
        """Send one org-wide frame to every connected user of ``org_id``."""
        self.fan_out(org_id, self.frame(type, data))

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._queues.clear()


class RedisNotifier(LocalNotifier):
    backend = "redis"

    def __init__(self, url: str, prefix: str = "", timeout_s: float = 2.0) -> None:
        super().__init__()
        self.url = url
        self.channel = f"{prefix}org-frames"
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def publish(self, org_id: str, type: EventType | str, data: dict[str, Any]) -> None:
        event = self.frame(type, data)
        message = orjson.dumps({"org_id": org_id, "frame": event.model_dump()})
        try:
            await self.client.publish(self.channel, message)
        except (aioredis.RedisError, OSError, TimeoutError) as exc:
            log.warning(
                "notify.publish_fallback",
                redis=mask_url(self.url),
                error=classify(exc).message,
                detail="frame sent to this instance's sockets only",
            )
            self.fan_out(org_id, event)

    def _received(self, raw: bytes) -> None:
        try:
            message = orjson.loads(raw)
            event = ServerEvent.model_validate(message["frame"])
            self.fan_out(str(message["org_id"]), event)
        except Exception:  # a foreign message on our channel must not stop the listener
            log.warning("notify.bad_message", channel=self.channel, size=len(raw))

    async def _listen(self) -> None:
        backoff = 0.25
        while not cancel_requested():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                backoff = 0.25
                while not cancel_requested():
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._received(message["data"])
            except asyncio.CancelledError:
                raise
            except (aioredis.RedisError, OSError, TimeoutError) as exc:
                self._subscribed.clear()
                log.warning(
                    "notify.listener_down",
                    redis=mask_url(self.url),
                    error=classify(exc).message,
                    retry_in_s=backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 15.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def start(self, wait_s: float = 2.0) -> None:
        """Listen; wait (bounded) for the subscription so a frame published right after
        start-up is not missed. Redis down at start: the listener keeps retrying."""
        self._listener = asyncio.create_task(self._listen(), name="notify-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), wait_s)

    async def close(self) -> None:
        await cancel_and_wait(self._listener)
        self._listener = None
        await self.client.aclose()
        await super().close()


Notifier = LocalNotifier | RedisNotifier
