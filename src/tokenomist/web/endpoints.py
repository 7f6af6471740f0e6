"""The browser UI: one HTML shell for every page path, and the static ES modules it loads.

No build step: the files under ``static/`` are what the browser runs. The shell is sent with a
Content-Security-Policy that allows scripts from this origin only, so text that reaches the
page (a report, a model name) can never run as script even if it slipped past escaping.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from tokenomist.kit.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static"
PAGES = (
    "/", "/dashboard", "/ask", "/import", "/api-keys", "/budgets", "/alerts", "/channels",
    "/sign-in",
)  # fmt: skip
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)

router = APIRouter(include_in_schema=False)


async def index() -> FileResponse:
    return FileResponse(
        STATIC / "index.html",
        media_type="text/html",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


for _path in PAGES:
    router.add_api_route(_path, index, methods=["GET"])


@router.get("/static/{name:path}")
async def asset(name: str) -> FileResponse:
    path = (STATIC / name).resolve()
    kind = CONTENT_TYPES.get(path.suffix)
    # Only files of a served kind inside static/ (no "..", no index.html twice, no README).
    if kind is None or not path.is_relative_to(STATIC) or not path.is_file():
        raise NotFound(f"no static asset {name!r}")
    return FileResponse(path, media_type=kind, headers={"Cache-Control": "no-cache"})
