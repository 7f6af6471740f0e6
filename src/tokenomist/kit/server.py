"""The HTTP server: uvicorn's httptools protocol with the connection limits it lacks.

uvicorn (measured on 0.55 with httptools 0.9) never times out a connection that sends nothing or
half a request head, and accepts header lines and header counts of any size on plain HTTP while
buffering an unterminated line without bound; a few hundred such connections exhaust the
process's file descriptors. :class:`GuardedHttpProtocol` adds, per connection:

- a header timeout: the request head (request line and headers) must be complete within
  ``header_timeout_s`` of the connection opening or of its first byte; else 408 (if anything was
  received) or a silent close (an idle socket);
- an idle keep-alive timeout between requests (uvicorn's own timer, set from our settings);
- caps on the length of any head line and on the number of headers, enforced as the bytes
  arrive and ANSWERED (414/431, ``connection: close``) on plain requests and WebSocket upgrades
  alike, since both are parsed here before an upgrade is handed to the WebSocket protocol;
- room under the file-descriptor limit: when a new connection's descriptor comes close to
  ``RLIMIT_NOFILE``, the oldest connection that is idle or still sending its head is closed.
  Without it, sockets that merely sit there exhaust the descriptors and the event loop (libuv's
  EMFILE handling under uvloop) drops every new connection, real requests included;
- a lingering close: a response that closes the connection while the client is still sending
  (a 413 cut mid-body, a 431) half-closes and drains for a moment, so the client reads the
  answer instead of a connection reset.

Everything else (parsing, flow control, pipelining, the upgrade) is uvicorn's own code.
"""

from __future__ import annotations

import asyncio
import functools
import resource
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import orjson
import structlog
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tokenomist.kit.errors import error_body
from tokenomist.settings import Settings

log = structlog.get_logger(__name__)

# After refusing a request mid-upload, how long and how much more of it is read and dropped
# before the socket is closed for good (bounded, so a refused client cannot hold it).
# Clients that write their whole body before reading (most libraries) need the drain to last
# until they finish or give up; 5 s is nginx's lingering_timeout.
LINGER_S = 5.0
LINGER_MAX_BYTES = 16 * 1024 * 1024
# Descriptors kept free for everything else (database, analytics, temp files) and for a burst of
# accepts that land before the evictions: at least this many, or 1/8 of the limit.
FD_RESERVE = 32


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = 10.0
    keep_alive_timeout_s: float = 5.0
    max_header_line_bytes: int = 8192
    max_headers: int = 128

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout_s=settings.http_header_timeout_s,
            keep_alive_timeout_s=settings.http_keep_alive_timeout_s,
            max_header_line_bytes=settings.http_max_header_line_bytes,
            max_headers=settings.http_max_headers,
        )


@functools.cache
def _limits_from_env() -> ConnectionLimits:
    return ConnectionLimits.from_settings(Settings())


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; the answer is in ``protocol._refusal``."""


class _LingeringTransport:
    """The request cycle's view of the transport: its ``close()`` lingers (see the module doc)."""

    def __init__(self, protocol: GuardedHttpProtocol) -> None:
        self._protocol = protocol
        self._transport = protocol.transport

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        cycle = self._protocol.cycle
        self._protocol.close_lingering(still_sending=cycle is not None and cycle.more_body)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the limits above. ``limits`` is a class attribute so
    uvicorn can build the protocol itself; ``None`` reads them from the environment's settings
    (``tokenomist serve``, where the app factory reads the same environment)."""

    limits: ClassVar[ConnectionLimits | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = type(self).limits or _limits_from_env()
        self.timeout_keep_alive = self._limits.keep_alive_timeout_s  # type: ignore[assignment]
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = False  # between a request's first byte and the end of its headers
        self._between = True  # no request in progress: the next byte starts a new one
        self._began_now = False
        self._line = 0  # bytes of the head line still being received
        self._url_bytes = 0
        self._header_count = 0
        self._refusal: tuple[int, str, str] | None = None
        self._draining = 0  # > 0: refused; bytes read and dropped since
        # Connections of this server with no request being served (idle, or sending a head),
        # oldest first: the ones to close when descriptors run short.
        state: Any = self.server_state
        if not hasattr(state, "tk_waiting"):
            state.tk_waiting = {}
        self._waiting: dict[GuardedHttpProtocol, None] = state.tk_waiting

    # --- connection life --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a socket that never sends a byte is closed too
        self._waiting[self] = None
        self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._waiting.pop(self, None)
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._waiting[self] = None  # idle keep-alive: waiting again, now the newest

    def _make_room(self) -> None:
        sock = self.transport.get_extra_info("socket")
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if sock is None or soft == resource.RLIM_INFINITY:
            return
        # Descriptors are allocated lowest first: this one's number is about how many are open.
        if soft - sock.fileno() > max(FD_RESERVE, soft // 8):
            return
        oldest = next((c for c in self._waiting if c is not self), None)
        if oldest is not None:
            oldest._waiting.pop(oldest, None)
            oldest.transport.close()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self._limits.header_timeout_s, self._head_timed_out
            )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._draining:
            return
        if self._in_head:
            self._refuse(
                408,
                "header_timeout",
                f"the request head was not complete within {self._limits.header_timeout_s:g} s",
            )
        else:
            self.transport.close()  # nothing received: an idle socket gets no answer

    # --- reading ----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._draining:
            self._drain(len(data))
            return
        self._unset_keepalive_if_required()
        started_between = self._between
        self._began_now = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._refuse(*self._refusal)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head:
            self._count_head_line(data, exact=started_between or not self._began_now)

    def _count_head_line(self, data: bytes, *, exact: bool) -> None:
        """Track the length of the head line still arriving, so an unterminated line is refused
        once past the cap instead of buffered. ``exact`` is false only when this chunk also held
        the end of a pipelined previous request; the line is then counted from the next chunk."""
        if not exact:
            return
        newline = data.rfind(b"\n")
        if newline >= 0:
            self._line = len(data) - newline - 1
        else:
            self._line += len(data)
        if self._line > self._limits.max_header_line_bytes:
            self._refuse(*self._line_refusal())

    def _line_refusal(self) -> tuple[int, str, str]:
        cap = self._limits.max_header_line_bytes
        if self._header_count == 0 and self._url_bytes > cap:
            return 414, "uri_too_long", f"request line longer than {cap} bytes"
        return 431, "header_too_large", f"header line longer than {cap} bytes"

    # --- parser callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._between, self._began_now = True, False, True
        self._line = self._url_bytes = self._header_count = 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self._limits.max_header_line_bytes:
            self._refusal = self._line_refusal()
            raise _Refused
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        cap = self._limits
        if self._header_count > cap.max_headers:
            self._refusal = (431, "too_many_headers", f"more than {cap.max_headers} headers")
            raise _Refused
        if len(name) + len(value) + 2 > cap.max_header_line_bytes:
            self._refusal = (
                431,
                "header_too_large",
                f"header line longer than {cap.max_header_line_bytes} bytes",
            )
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        self._waiting.pop(self, None)
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.scope is self.scope:
            self.cycle.transport = _LingeringTransport(self)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._between = True
        super().on_message_complete()

    # --- refusing ---------------------------------------------------------------------------

    def _refuse(self, status: int, code: str, message: str) -> None:
        body = orjson.dumps(error_body(code, message))
        phrase = {408: "Request Timeout", 414: "URI Too Long"}.get(
            status, "Request Header Fields Too Large"
        )
        head = [f"HTTP/1.1 {status} {phrase}".encode()]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/json",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.close_lingering(still_sending=True)

    def close_lingering(self, *, still_sending: bool) -> None:
        """Close; if the client may still be sending, half-close first and drop what it sends
        for up to ``LINGER_S`` / ``LINGER_MAX_BYTES``, so our answer is read, not reset."""
        self._cancel_head_timer()
        self._waiting.pop(self, None)
        if not still_sending or not self.transport.can_write_eof() or self._draining:
            self.transport.close()
            return
        self._draining = 1
        self.transport.write_eof()
        self.flow.resume_reading()
        self.loop.call_later(LINGER_S, self.transport.close)

    def _drain(self, size: int) -> None:
        self._draining += size
        if self._draining > LINGER_MAX_BYTES:
            self.transport.close()


def http_protocol(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """A protocol class bound to ``limits`` (an in-process server with its own settings)."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options of ``tokenomist serve``. The protocol is named by import path (it reads
    its limits from the environment, like the app factory) so ``--reload`` can rebuild it."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "ws": "websockets-sansio",
        "http": f"{__name__}:GuardedHttpProtocol",
    }


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The same server for an in-process app with its own ``settings`` (the test servers)."""
    options = server_options(settings)
    options["http"] = http_protocol(ConnectionLimits.from_settings(settings))
    options.update(overrides)
    return uvicorn.Config(app, **options)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, but SIGTERM drains before it stops: ``drain()`` (the app's: mark the
    instance draining, move its WebSockets away, let its runs end) runs first and only then does
    the server stop listening and close its connections. A second SIGTERM, or SIGINT, stops at
    once as uvicorn does."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain = drain
        self._drain_task: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: Any) -> None:
        if sig != signal.SIGTERM or self._drain_task is not None or self.should_exit:
            super().handle_exit(sig, frame)
            return
        # A signal handler runs on the loop's thread between two steps of the loop.
        self._drain_task = asyncio.get_event_loop().create_task(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        try:
            await self._drain()
        except Exception:
            log.exception("server.drain_failed")
        self.should_exit = True
