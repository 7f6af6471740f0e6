"""``/ws`` (the one WebSocket route) and ``GET /api/v1/protocol`` (its JSON Schema)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from tokenomist.kit.resources import ResourcesDep
from tokenomist.realtime import handshake
from tokenomist.realtime.connection import Connection
from tokenomist.realtime.protocol import protocol_schema

router = APIRouter(tags=["realtime"])


@router.get("/api/v1/protocol")
async def protocol() -> dict:
    """The WebSocket protocol ``tokenomist.v1``: client and server frames as JSON Schema."""
    return protocol_schema()


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket, resources: ResourcesDep) -> None:
    try:
        shake = await handshake.authenticate(websocket, resources)
    except handshake.HandshakeRefused as refused:
        await websocket.send_denial_response(refused.response())
        return
    await websocket.accept(subprotocol=shake.subprotocol)
    gauge = resources.metrics.ws_connections
    gauge.inc()
    try:
        await Connection(websocket, resources, shake.principal).serve()
    finally:
        gauge.dec()
