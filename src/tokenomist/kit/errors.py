"""One error family for the service and the single handler that renders it.

Every expected failure is a ``TokenomistError`` subclass carrying its HTTP status and a stable
machine code; the handler turns it into ``{"error": {"code", "message", "details"?}}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


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
