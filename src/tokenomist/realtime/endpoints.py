"""``/ws`` (the one WebSocket route) and ``GET /api/v1/protocol`` (its JSON Schema)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, WebSocket
from starlette.responses import Response
from starlette.websockets import WebSocketDisconnect

from tokenomist.kit.errors import TokenomistError, render_unexpected
from tokenomist.kit.resources import ResourcesDep
from tokenomist.realtime import handshake, limits
from tokenomist.realtime.connection import Connection
from tokenomist.realtime.protocol import (
    CLOSE_TOO_MANY_CONNECTIONS,
    ErrorCode,
    error_frame,
    protocol_schema,
)

router = APIRouter(tags=["realtime"])
log = structlog.get_logger(__name__)


@router.get("/api/v1/protocol")
async def protocol() -> dict:
    """The WebSocket protocol ``tokenomist.v1``: client and server frames as JSON Schema."""
    return protocol_schema()


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket, resources: ResourcesDep) -> None:
    if resources.draining:
        # Refused before accept: a load balancer retries the handshake on another instance.
        message = "this instance is draining (shutting down); connect again"
        answer = handshake.HandshakeRefused(503, "draining", message)
        await _refuse(websocket, 503, "draining", answer.response())
        return
    try:
        shake = await handshake.authenticate(websocket, resources)
    except handshake.HandshakeRefused as refused:
        await _refuse(websocket, refused.status_code, refused.code, refused.response())
        return
    except TokenomistError as exc:  # e.g. DependencyDown from the token check
        answer = handshake.HandshakeRefused(exc.status_code, exc.code, exc.message)
        await _refuse(websocket, answer.status_code, answer.code, answer.response())
        return
    except Exception as exc:
        # Unanswered, the server would log "Exception in ASGI application" and send a bare
        # 500; answered like HTTP: 503 naming the database when it is down, else a JSON 500
        # (logged with its traceback by render_unexpected).
        response = render_unexpected(websocket, exc)  # type: ignore[arg-type]
        await _refuse(websocket, response.status_code, "unexpected", response)
        return
    user_id = shake.principal.user_id or ""  # the handshake accepts user tokens only
    slots = limits.connection_slots(resources)
    cap = resources.settings.ws_max_connections_per_user
    await websocket.accept(subprotocol=shake.subprotocol)
    if not slots.acquire(user_id, cap):
        await _refuse_too_many(websocket, cap)
        return
    gauge = resources.metrics.ws_connections
    gauge.inc()
    connection = Connection(websocket, resources, shake.principal)
    resources.sockets.add(connection)
    try:
        await connection.serve()
    finally:
        resources.sockets.discard(connection)
        gauge.dec()
        slots.release(user_id)


async def _refuse(websocket: WebSocket, status: int, code: str, response: Response) -> None:
    """Answer a refused handshake with an HTTP response. A refusal is the client's mistake (or
    an outage already logged where it was met): one info line, never an error, never the
    token."""
    client = websocket.client
    log.info(
        "ws.handshake_refused",
        status=status,
        code=code,
        client=f"{client.host}:{client.port}" if client else None,
    )
    await websocket.send_denial_response(response)


async def _refuse_too_many(websocket: WebSocket, cap: int) -> None:
    """Accepted, told why in a frame (a browser cannot read a refused handshake), closed 1008."""
    message = f"more than {cap} open connections for this user; close one first"
    try:
        await websocket.send_text(error_frame(ErrorCode.rate_limited, message).to_wire())
        await websocket.close(code=CLOSE_TOO_MANY_CONNECTIONS, reason="too many connections")
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client left first
