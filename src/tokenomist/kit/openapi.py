"""The OpenAPI document, completed in one place, and the docs pages served without a CDN.

FastAPI's generated document leaves out what the routes do not declare in their signatures:
the ``{"error": …}`` body of every 4xx/503 (it only knows its own ``HTTPValidationError``,
which this API never sends) and media types other than JSON. ``complete_openapi`` adds the
error responses by rule — so a new route is documented without touching it — and applies the
media-type overrides the application passes in (SSE, Prometheus text).

``/docs`` (Swagger UI) and ``/redoc`` load their JavaScript and CSS from the dist files the
``fastapi-offline`` package ships (Swagger UI 5.32.6 and ReDoc 2, MIT/Apache-2.0 licensed;
see that package's metadata), served under ``/docs/assets``: the pages work offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
# The pages may load from this server only. ReDoc's bundle fetches its logo from
# cdn.redoc.ly; the policy stops that (and any future CDN reference) in the browser, so the
# pages never reach out. Inline script/style: Swagger UI's config, ReDoc's styled components.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; frame-ancestors 'self'"
)
# ReDoc's footer link shows that logo; without it the link would show a broken image.
REDOC_STYLE = '<style>a[href*="redocly.com"] img { display: none; }</style>'


def _offline(page: HTMLResponse, extra_head: str = "") -> HTMLResponse:
    html = bytes(page.body).decode()
    if extra_head:
        html = html.replace("</head>", extra_head + "</head>", 1)
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_CSP})


ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string", "description": "what failed, where and why"},
                "details": {"description": "e.g. the failing fields of a 422"},
            },
        }
    },
}
ERROR_DESCRIPTIONS = {
    400: "Bad request (e.g. two credentials sent at once)",
    401: "Missing, invalid or expired credentials",
    403: "Authenticated, but not allowed (scope, role or origin)",
    404: "No such resource in the caller's org",
    409: "Conflicts with the current state (e.g. the email is taken, the run has ended)",
    413: "Body larger than the server's limit",
    422: "The request is well-formed but invalid; `details` names the fields",
    429: "Too many requests (sign-in throttling, concurrent runs per user); retry later",
    503: "A dependency (database, cache, analytics) is unavailable",
}
API_PREFIXES = ("/api/", "/auth/", "/v1/")  # routes that answer errors with the Error body
WRITES = {"post", "put", "patch", "delete"}


def _requires_auth(operation: dict[str, Any], route: APIRoute | None) -> bool:
    if operation.get("security"):
        return True
    if route is None:
        return False
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if getattr(dep.call, "__module__", "").startswith("tokenomist.auth.dependencies"):
            return True
        stack.extend(dep.dependencies)
    return False


def error_statuses(
    method: str, path: str, operation: dict[str, Any], route: APIRoute | None
) -> list[int]:
    """Which error answers an operation can give, by rule (see ``ERROR_DESCRIPTIONS``)."""
    if not path.startswith(API_PREFIXES):
        return []
    codes: set[int] = set()
    body = bool(operation.get("requestBody"))
    if operation.get("parameters") or body:
        codes.add(422)
    if body:
        codes.add(413)
    if method in WRITES:
        codes.add(409)
    if "{" in path:
        codes.add(404)
    if _requires_auth(operation, route):
        codes |= {400, 401, 403, 429}
    elif path.startswith("/auth/"):
        codes |= {401, 429}  # sign-in and refresh: wrong credentials, throttling
    if codes & {401, 413}:  # it reads the database (credentials) or stores what it is sent
        codes.add(503)
    return sorted(codes)


def complete_openapi(
    app: FastAPI, media_overrides: dict[tuple[str, str], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The app's OpenAPI document with every error response and the given media overrides
    (``{(method, path): {status: response}}``, replacing what FastAPI generated)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)  # FastAPI's; this API answers with Error
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    routes = {
        (method.lower(), route.path_format): route
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for code in error_statuses(method, path, operation, routes.get((method, path))):
                responses[str(code)] = {
                    "description": ERROR_DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": ERROR_REF}},
                }
            for status, response in (media_overrides or {}).get((method, path), {}).items():
                responses[str(status)] = response
    app.openapi_schema = schema
    return schema


def _assets_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def install_docs(app: FastAPI, media_overrides: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Serve ``/docs`` and ``/redoc`` from packaged assets; build the completed document.
    The app must be created with ``docs_url=None, redoc_url=None``."""
    app.openapi = lambda: complete_openapi(app, media_overrides)  # type: ignore[method-assign]
    app.mount(ASSETS_URL, StaticFiles(directory=_assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} — API",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            # The default validator badge is an image from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )
        return _offline(page)

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} — API",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        return _offline(page, REDOC_STYLE)
