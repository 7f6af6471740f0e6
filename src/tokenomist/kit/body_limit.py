"""Request body limits, enforced while the body is read, for every route in one place.

A declared ``Content-Length`` above the route's limit is answered 413 before a byte of the body
is read (and before the app runs). A body without one (chunked) is counted as it streams in:
the ``receive`` the app sees raises :class:`BodyTooLarge` (a ``PayloadTooLarge``) the moment
the count passes the limit, and the app's error handler renders the usual 413 ``{"error": …}``.
(It is also a Starlette ``HTTPException``, so FastAPI's body reading re-raises it instead of
turning it into a 400.) Whatever the endpoint was doing with the body (a multipart parser
spooling a file to disk, a JSON read) stops there, so nothing past the limit is buffered or
spooled. Each 413 closes the connection: the rest of the body is never read.

Starlette's own ``RequestBodyLimitMiddleware`` is not used: it answers in plain text (off our
error contract) and keeps the connection, so the server goes on reading the refused body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenomist.kit.errors import PayloadTooLarge, error_body


# Both bases declare ``headers`` (a dict, a Mapping); it is None here, so they agree.
class BodyTooLarge(PayloadTooLarge, StarletteHTTPException):  # type: ignore[misc]
    def __init__(self, limit: int, size: int | None = None) -> None:
        what = f"body of {size:,} bytes" if size is not None else "body"
        PayloadTooLarge.__init__(
            self,
            f"{what} exceeds this route's limit of {limit:,} bytes; send less per request "
            "(`tokenomist ingest` splits files)",
            details={"limit_bytes": limit},
        )
        # TokenomistError's super().__init__(message) lands in HTTPException.__init__ (next in
        # the MRO), which takes its first argument as the status: set both views right.
        self.status_code = 413
        self.detail = self.message
        self.headers = None


class BodyLimitMiddleware:
    """Pure ASGI (no buffering of its own). ``routes`` maps exact paths to their own limit;
    every other path gets ``default``."""

    def __init__(self, app: ASGIApp, default: int, routes: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.routes.get(scope["path"], self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, BodyTooLarge(limit, declared))
            return
        guard = _Guard(limit, receive, send)
        await self.app(scope, guard.receive, guard.send)


class _Guard:
    def __init__(self, limit: int, receive: Receive, send: Send) -> None:
        self.limit = limit
        self._receive = receive
        self._send = send
        self.received = 0
        self.tripped = False

    async def receive(self) -> Message:
        if self.tripped:  # the app asked again after the refusal: it gets the same answer
            raise BodyTooLarge(self.limit)
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.tripped = True
                raise BodyTooLarge(self.limit)
        return message

    async def send(self, message: Message) -> None:
        if self.tripped and message["type"] == "http.response.start":
            # The unread rest of the body must not be drained on a keep-alive connection.
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await self._send(message)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


async def _send_413(send: Send, exc: BodyTooLarge) -> None:
    body = orjson.dumps(error_body(exc.code, exc.message, exc.details))
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    start: dict[str, Any] = {"type": "http.response.start", "status": 413, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
