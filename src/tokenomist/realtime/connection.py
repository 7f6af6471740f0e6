"""One accepted WebSocket: reads client frames, starts/resumes/cancels runs, forwards run events.

Each followed run has one forwarder task reading ``bus.stream(run_id, after_seq)``; all frames
go out through one lock so they never interleave. ``delivered[run_id]`` is the last ``seq``
sent on this connection: a run is never forwarded twice and never with a hole. The runs
themselves belong to the analyst and outlive the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from tokenomist.auth.principal import Principal
from tokenomist.kit.errors import TokenomistError, Unauthorized
from tokenomist.kit.resources import Resources
from tokenomist.realtime import limits
from tokenomist.realtime.bus import BusError
from tokenomist.realtime.protocol import (
    CLOSE_IDLE,
    CLOSE_TOKEN_EXPIRED,
    PROTOCOL_VERSION,
    Cancel,
    ErrorCode,
    EventType,
    Ping,
    ProtocolError,
    Resume,
    ServerEvent,
    UserMessage,
    error_frame,
    events_expired_message,
    parse_client_frame,
    server_frame,
    utc_now_iso,
)

log = structlog.get_logger(__name__)
# How often an open socket re-checks that its login was not ended (logout, refresh-token
# reuse) while the client sends nothing; every client frame is checked as it arrives.
REVOCATION_CHECK_S = 30.0


class Connection:
    def __init__(self, websocket: WebSocket, resources: Resources, principal: Principal) -> None:
        self.ws = websocket
        self.resources = resources
        self.principal = principal
        if principal.user_id is None:  # the handshake accepts user access tokens only
            raise ValueError("a WebSocket connection belongs to a user")
        self.user_id: str = principal.user_id
        self.id = uuid.uuid4().hex
        self._send_lock = asyncio.Lock()
        self._followers: dict[str, asyncio.Task[None]] = {}
        self.delivered: dict[str, int] = {}
        self._closed = False
        self._org_queue: asyncio.Queue[ServerEvent] | None = None
        self._org_task: asyncio.Task[None] | None = None

    # --- outgoing ---------------------------------------------------------------------------

    async def send(self, event: ServerEvent) -> None:
        async with self._send_lock:
            if self._closed:
                raise WebSocketDisconnect(1006)
            await self.ws.send_text(event.to_wire())

    async def send_error(self, code: ErrorCode | str, message: str, **extra: Any) -> None:
        await self.send(error_frame(code, message, **extra))

    # --- the connection's life --------------------------------------------------------------

    async def serve(self) -> None:
        try:
            await self.send(
                server_frame(
                    EventType.connection_established,
                    {
                        "user_id": self.user_id,
                        "connection_id": self.id,
                        "protocol_version": PROTOCOL_VERSION,
                        "server_time": utc_now_iso(),
                        "instance_id": self.resources.instance_id,
                    },
                )
            )
            self._follow_org()
            await self._receive_loop()
        except (WebSocketDisconnect, OSError):
            pass  # the client went away mid-send; its runs go on without it
        finally:
            self._closed = True
            self._unfollow_org()
            for task in self._followers.values():
                task.cancel()
            for task in list(self._followers.values()):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _token_left_s(self) -> float | None:
        expires_at: datetime | None = self.principal.expires_at
        if expires_at is None:
            return None
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return (expires_at - datetime.now(UTC)).total_seconds()

    async def _receive_loop(self) -> None:
        idle_s = self.resources.settings.ws_idle_timeout_s
        last_frame = time.monotonic()
        next_check = last_frame + REVOCATION_CHECK_S
        while True:
            if self._closed:
                return
            token_left = self._token_left_s()
            if token_left is not None and token_left <= 0:
                await self._close(CLOSE_TOKEN_EXPIRED, "access token expired")
                return
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + REVOCATION_CHECK_S
                if not await self._still_authorized(tolerate_errors=True):
                    return
            idle_left = idle_s - (time.monotonic() - last_frame)
            if idle_left <= 0:
                if not self._following():
                    await self._close(CLOSE_IDLE, "idle timeout")
                    return
                idle_left = idle_s  # a followed run keeps the connection alive
                last_frame = time.monotonic()
            wait = min(idle_left, next_check - time.monotonic())
            if token_left is not None:
                wait = min(wait, token_left)
            try:
                # asyncio.timeout, unlike wait_for, needs no extra task per idle connection.
                async with asyncio.timeout(max(wait, 0.001)):
                    message = await self.ws.receive()
            except TimeoutError:
                continue
            if message["type"] == "websocket.disconnect":
                return
            last_frame = time.monotonic()
            await self._on_frame(message.get("text"), message.get("bytes"))

    async def _still_authorized(self, *, tolerate_errors: bool = False) -> bool:
        """False, with the socket closed 4401, once the login behind the token was ended. An
        error of the check itself propagates (the frame is refused) unless ``tolerate_errors``
        (the periodic check: a database blip must not drop every idle socket)."""
        from tokenomist.auth import service as auth_service

        try:
            await auth_service.ensure_still_valid(self.resources, self.principal)
        except Unauthorized as exc:
            await self._close(CLOSE_TOKEN_EXPIRED, exc.message)
            return False
        except Exception:
            if not tolerate_errors:
                raise
            log.warning("ws.revocation_check_failed", connection_id=self.id, exc_info=True)
        return True

    def _following(self) -> bool:
        return any(not t.done() for t in self._followers.values())

    async def close(self, code: int, reason: str) -> None:
        """Close from the server side (e.g. draining); the runs followed here go on."""
        await self._close(code, reason)

    async def _close(self, code: int, reason: str) -> None:
        async with self._send_lock:
            self._closed = True
            if self.ws.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):
                    await self.ws.close(code=code, reason=reason)

    # --- incoming ---------------------------------------------------------------------------

    async def _on_frame(self, text: str | None, data: bytes | None) -> None:
        if not await limits.allow_frame(self.resources, self.user_id):
            s = self.resources.settings
            await self.send_error(
                ErrorCode.rate_limited,
                f"more than {s.ws_rate_limit} frames in {s.ws_rate_window_s:g} s; slow down",
            )
            return
        if text is None:
            await self.send_error(
                ErrorCode.binary_not_supported, "binary frames are not supported; send JSON text"
            )
            return
        try:
            frame = parse_client_frame(text)
        except ProtocolError as exc:
            await self.send_error(exc.code, exc.message)
            return
        try:
            if not await self._still_authorized():
                return
            if isinstance(frame, UserMessage):
                await self._user_message(frame)
            elif isinstance(frame, Resume):
                await self._resume(frame)
            elif isinstance(frame, Cancel):
                await self._cancel(frame)
            elif isinstance(frame, Ping):
                await self.send(server_frame(EventType.pong))
        except TokenomistError as exc:
            await self.send_error(exc.code, exc.message)
        except (WebSocketDisconnect, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("ws.frame_failed", connection_id=self.id, frame=frame.type)
            await self.send_error(ErrorCode.internal_error, f"{frame.type} failed on the server")

    async def _user_message(self, frame: UserMessage) -> None:
        try:
            run_id = await self.resources.require_runs().start(
                self.resources, self.principal, frame.content, frame.thread_id
            )
        except TokenomistError as exc:
            await self.send_error(exc.code, exc.message, client_message_id=frame.client_message_id)
            return
        self.follow(run_id, 0)

    async def _resume(self, frame: Resume) -> None:
        # Ownership comes from the system of record, so it holds on any instance; another
        # user's run is indistinguishable from a missing one.
        runs = self.resources.require_runs()
        finished = await runs.is_finished(self.resources, self.principal, frame.run_id)
        if finished and not await self._events_kept(frame.run_id):
            # A finished run whose events are gone (TTL, or an in-process bus that restarted)
            # would otherwise be followed forever, waiting for a terminal event.
            await self.send_error(
                ErrorCode.events_expired,
                events_expired_message(frame.run_id),
                run_id=frame.run_id,
            )
            return
        self.follow(frame.run_id, frame.after_seq)

    async def _events_kept(self, run_id: str) -> bool:
        try:
            events = await self.resources.require_bus().replay(run_id, 0)
        except BusError:
            return False
        return bool(events) and events[-1].is_terminal

    async def _cancel(self, frame: Cancel) -> None:
        await self.resources.require_runs().cancel(self.resources, self.principal, frame.run_id)

    # --- org-wide frames (alert) -----------------------------------------------------------

    def _follow_org(self) -> None:
        notifier = self.resources.notifier
        if notifier is None:
            return
        queue = notifier.subscribe(self.principal.org_id)
        self._org_queue = queue
        self._org_task = asyncio.create_task(self._forward_org(queue), name="ws-org-frames")

    def _unfollow_org(self) -> None:
        notifier = self.resources.notifier
        if self._org_queue is not None and notifier is not None:
            notifier.unsubscribe(self.principal.org_id, self._org_queue)
        self._org_queue = None
        if self._org_task is not None:
            self._org_task.cancel()
            self._org_task = None

    async def _forward_org(self, queue: asyncio.Queue[ServerEvent]) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            while True:
                await self.send(await queue.get())

    # --- forwarding -------------------------------------------------------------------------

    def follow(self, run_id: str, after_seq: int) -> None:
        task = self._followers.get(run_id)
        if task is not None and not task.done():
            if after_seq >= self.delivered.get(run_id, 0):
                # Already live here; the client says it holds events up to after_seq, so the
                # forwarder skips those instead of sending them again.
                self.delivered[run_id] = after_seq
                return
            task.cancel()  # an explicit replay of earlier events: restart from there
        self.delivered[run_id] = after_seq
        self._followers[run_id] = asyncio.create_task(
            self._forward(run_id, after_seq), name=f"ws-forward-{run_id}"
        )

    async def _forward(self, run_id: str, after_seq: int) -> None:
        bus = self.resources.require_bus()
        try:
            async for event in bus.stream(run_id, after_seq):
                if (event.seq or 0) <= self.delivered.get(run_id, 0):
                    continue
                await self.send(event)
                self.delivered[run_id] = event.seq or 0
        except BusError as exc:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await self.send_error(exc.code, str(exc), run_id=run_id)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the socket went away; the run goes on without it
