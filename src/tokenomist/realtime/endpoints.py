"""``/ws`` (the one WebSocket route) and ``GET /api/v1/protocol`` (its JSON Schema)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from tokenomist.realtime import handshake, limits
from tokenomist.realtime.connection import Connection
from tokenomist.realtime.protocol import (
    CLOSE_TOO_MANY_CONNECTIONS,
    ErrorCode,
    error_frame,
    protocol_schema,
)

router = APIRouter(tags=["realtime"])


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
        await websocket.send_denial_response(refused.response())
        return
    user_id = shake.principal.user_id  # type: ignore[attr-defined]
    slots = limits.connection_slots(resources)
    cap = resources.settings.ws_max_connections_per_user
    await websocket.accept(subprotocol=shake.subprotocol)
    if not slots.acquire(user_id, cap):
        await _refuse_too_many(websocket, cap)
        return
    gauge = resources.metrics.ws_connections
    gauge.inc()
    try:
        await Connection(websocket, resources, shake.principal).serve()
    finally:
        gauge.dec()
        slots.release(user_id)


async def _refuse_too_many(websocket: WebSocket, cap: int) -> None:
    """Accepted, told why in a frame (a browser cannot read a refused handshake), closed 1008."""
    message = f"more than {cap} open connections for this user; close one first"
    try:
        await websocket.send_text(error_frame(ErrorCode.rate_limited, message).to_wire())
        await websocket.close(code=CLOSE_TOO_MANY_CONNECTIONS, reason="too many connections")
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client left first
