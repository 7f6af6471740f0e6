"""``/ws`` (the one WebSocket route) and ``GET /api/v1/protocol`` (its JSON Schema)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, WebSocket

from tokenomist.realtime import handshake
from tokenomist.realtime.connection import Connection
from tokenomist.realtime.protocol import protocol_schema

router = APIRouter(tags=["realtime"])
log = structlog.get_logger(__name__)


@router.get("/api/v1/protocol")
async def protocol() -> dict:
    """The WebSocket protocol ``tokenomist.v1``: client and server frames as JSON Schema."""
    return protocol_schema()


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    resources = websocket.app.state.resources
    try:
        shake = await handshake.authenticate(websocket, resources)
    except handshake.HandshakeRefused as refused:
        # A refusal is the client's mistake, answered with a 4xx: one info line, never an
        # error (and never the token).
        client = websocket.client
        log.info(
            "ws.handshake_refused",
            status=refused.status_code,
            code=refused.code,
            client=f"{client.host}:{client.port}" if client else None,
        )
        await websocket.send_denial_response(refused.response())
        return
    await websocket.accept(subprotocol=shake.subprotocol)
    gauge = resources.metrics.ws_connections
    gauge.inc()
    try:
        await Connection(websocket, resources, shake.principal).serve()
    finally:
        gauge.dec()
