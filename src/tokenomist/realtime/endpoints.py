"""``/ws`` (the one WebSocket route) and ``GET /api/v1/protocol`` (its JSON Schema)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, WebSocket
from starlette.responses import Response

from tokenomist.kit.errors import TokenomistError, render_unexpected
from tokenomist.kit.resources import ResourcesDep
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
async def websocket_endpoint(websocket: WebSocket, resources: ResourcesDep) -> None:
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
    await websocket.accept(subprotocol=shake.subprotocol)
    gauge = resources.metrics.ws_connections
    gauge.inc()
    try:
        await Connection(websocket, resources, shake.principal).serve()
    finally:
        gauge.dec()


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
