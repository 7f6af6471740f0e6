"""``GET /api/v1/discovery``: what this deployment serves and where, for clients and tools."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from tokenomist import __version__
from tokenomist.kit.resources import ResourcesDep
from tokenomist.realtime.protocol import PROTOCOL_VERSION, SUBPROTOCOL

router = APIRouter(prefix="/api/v1", tags=["discovery"])

CAPABILITIES = [
    "auth.jwt",
    "auth.api_keys",
    "usage.ingest",
    "usage.import",
    "usage.otlp_traces",
    "usage.summary",
    "analyst.runs",
    "analyst.threads",
    "realtime.websocket",
    "realtime.sse",
    "interop.mcp",
    "interop.agui",
    "interop.focus_export",
    "health",
    "metrics",
]


@router.get("/discovery")
async def discovery(request: Request, resources: ResourcesDep) -> dict[str, Any]:
    settings = resources.settings
    http = str(request.base_url).rstrip("/")
    ws = ("wss:" if http.startswith("https:") else "ws:") + http.split(":", 1)[1]
    return {
        "service": "tokenomist",
        "version": __version__,
        "environment": settings.environment.value,
        "endpoints": {
            "http": http,
            "ws": f"{ws}/ws",
            "sse": f"{http}/api/v1/runs/{{run_id}}/events",
            "mcp": f"{http}/mcp",
            "otlp": f"{http}/v1/traces",
            "agui": f"{http}/api/v1/agui",
            "focus_export": f"{http}/api/v1/exports/focus",
        },
        "protocol_version": PROTOCOL_VERSION,
        "subprotocol": SUBPROTOCOL,
        "capabilities": CAPABILITIES
        + ([f"analyst.llm.{settings.llm}"] if settings.llm != "none" else []),
    }
