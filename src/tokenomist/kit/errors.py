"""One error family for the service and the single handler that renders it.

Every expected failure is a ``TokenomistError`` subclass carrying its HTTP status and a stable
machine code; the handler turns it into ``{"error": {"code", "message", "details"?}}``.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenomist.kit.netdiag import classify, mask_url

log = structlog.get_logger(__name__)


class TokenomistError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details
        self.headers = headers


class BadRequest(TokenomistError):
    status_code = 400
    code = "bad_request"


class Unauthorized(TokenomistError):
    status_code = 401
    code = "unauthorized"


class Forbidden(TokenomistError):
    status_code = 403
    code = "forbidden"


class NotFound(TokenomistError):
    status_code = 404
    code = "not_found"


class Conflict(TokenomistError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(TokenomistError):
    status_code = 413
    code = "payload_too_large"


class Unprocessable(TokenomistError):
    status_code = 422
    code = "validation_error"


class RateLimited(TokenomistError):
    status_code = 429
    code = "rate_limited"


class DependencyDown(TokenomistError):
    status_code = 503
    code = "dependency_unavailable"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def install_error_handlers(app: FastAPI) -> None:
    install_fallback_handlers(app)

    @app.exception_handler(TokenomistError)
    async def _tokenomist_error(_: Request, exc: TokenomistError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        return JSONResponse(
            error_body("validation_error", "request validation failed", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


_SQL_DRIVERS = ("sqlalchemy.", "asyncpg.", "aiosqlite.")
# PostgreSQL going away or not accepting connections: admin/crash shutdown, starting up, too
# many connections.
_PG_UNAVAILABLE = {"57P01", "57P02", "57P03", "53300"}


def _raised_by_sql_driver(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith(_SQL_DRIVERS):
            return True
        tb = tb.tb_next
    return False


def _sql_unavailable(exc: BaseException) -> bool:
    """A SQL error that means the database could not be reached or the connection died
    (not a constraint or a bad statement). SQLAlchemy re-raises a driver's socket error
    unwrapped when a new connection fails, so those are recognised by where they came from."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, OSError):
        return _raised_by_sql_driver(exc)
    if isinstance(exc, DBAPIError):
        # Classify the driver's error, not SQLAlchemy's wrapper: the wrapper's text carries the
        # statement and its parameters, and a user's "timeout" or "TLS" there is no outage.
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
        return (
            exc.connection_invalidated
            or sqlstate.startswith("08")  # connection exception
            or sqlstate in _PG_UNAVAILABLE
            or (exc.orig is not None and classify(exc.orig).kind != "other")
            or isinstance(exc.orig, ConnectionError | OSError)
            or "connection" in type(exc.orig).__name__.lower()
        )
    return False


def install_fallback_handlers(app: FastAPI) -> None:
    """Dependency outages answer 503 naming the dependency; anything else unexpected answers
    a JSON 500 (and is logged with its traceback) instead of a dropped connection.

    Starlette runs an ``Exception`` handler outside every middleware, so its answer would carry
    no X-Request-ID, its log line no request id and the metrics a made-up 500. The middleware
    below renders inside the stack (call this before adding the other middleware, so it is the
    innermost); the handler stays for what escapes the middleware themselves."""
    app.add_middleware(UnexpectedErrorMiddleware)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return render_unexpected(request, exc)


def render_unexpected(request: Request, exc: Exception) -> JSONResponse:
    if _sql_unavailable(exc):
        resources = getattr(request.app.state, "resources", None)
        where = f" at {mask_url(resources.database_url)}" if resources else ""
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        message = f"SQL database{where} unavailable: {classify(cause).message}"
        log.warning("request.dependency_down", path=request.url.path, detail=message)
        return JSONResponse(error_body(DependencyDown.code, message), status_code=503)
    log.error("request.unhandled", path=request.url.path, exc_info=exc)
    return JSONResponse(
        error_body("internal_error", "internal error; the server log has the details"),
        status_code=500,
    )


class UnexpectedErrorMiddleware:
    """Pure ASGI: an exception before the response started becomes the JSON answer; one after
    it started (a broken stream) can only propagate."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started:
                raise
            response = render_unexpected(Request(scope), exc)
            await response(scope, receive, send)
