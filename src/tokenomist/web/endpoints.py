"""The browser UI: one static page at ``/`` that logs in and chats over ``/ws``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/static/{name}")
async def asset(name: str) -> FileResponse:
    allowed = {"app.js": "text/javascript", "app.css": "text/css"}
    if name not in allowed:
        from tokenomist.kit.errors import NotFound

        raise NotFound(f"no static asset {name!r}")
    return FileResponse(STATIC / name, media_type=allowed[name])
