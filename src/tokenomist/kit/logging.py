"""structlog set-up: JSON lines in staging/production, readable console output otherwise.
Each HTTP request carries a request id (``X-Request-ID`` in and out) bound to its log lines."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenomist.kit.masking import mask_data, mask_secrets


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of the call: test runners and
    reloaders swap it, and a logger holding the old one writes to a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def mask_event(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: no log line carries a secret (a DSN's password in an error, a
    token in a header, an exception's text). Runs after exceptions are formatted to text."""
    return mask_data(event_dict)


class MaskingFilter(logging.Filter):
    """The same for stdlib records (uvicorn's own lines and tracebacks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the formatter
            return True
        record.msg, record.args = mask_secrets(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_secrets(logging.Formatter().formatException(record.exc_info))
        return True


class QuietStartupFilter(logging.Filter):
    """Drops uvicorn's own "Application startup failed. Exiting." after the app's one
    ``startup failed: …`` line has said what failed (kept when debugging)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "uvicorn.error" and record.msg == UVICORN_STARTUP_FAILED)


UVICORN_STARTUP_FAILED = "Application startup failed. Exiting."
STDLIB_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "")


def _filter_stdlib_handlers(debug: bool) -> None:
    # Filters on a handler see every record it writes, also those propagated from children.
    for name in STDLIB_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            for kind in (MaskingFilter, QuietStartupFilter):
                present = [f for f in handler.filters if isinstance(f, kind)]
                if kind is QuietStartupFilter and debug:
                    for f in present:
                        handler.removeFilter(f)
                elif not present:
                    handler.addFilter(kind())


def configure_logging(level: str = "INFO", json: bool = False) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    _filter_stdlib_handlers(debug=level.upper() == "DEBUG")


class RequestIdMiddleware:
    """Pure ASGI (so it does not buffer streaming responses or WebSockets)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)
