"""Authentication in the WebSocket handshake, before the socket is accepted (DESIGN §5).

The token comes from a ``bearer.<JWT>`` Sec-WebSocket-Protocol entry (browsers cannot set
headers on a WebSocket) or an ``Authorization: Bearer`` header; never from the query string,
where it would land in access logs. A refused handshake is a real HTTP response (401/403 with
the usual ``{"error": …}`` body), not an accepted-then-closed socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse
from starlette.websockets import WebSocket

from tokenomist.auth.principal import Principal
from tokenomist.kit.errors import Unauthorized, error_body
from tokenomist.kit.resources import Resources
from tokenomist.realtime.protocol import BEARER_PREFIX, SUBPROTOCOL

# Query parameters that look like a credential. Their presence refuses the handshake even when a
# header token is also sent: a client that leaks tokens into URLs should hear about it.
QUERY_TOKEN_PARAMS = frozenset(
    {"token", "access_token", "jwt", "bearer", "auth", "authorization", "api_key"}
)


@dataclass
class HandshakeRefused(Exception):
    status_code: int
    code: str
    message: str

    def response(self) -> JSONResponse:
        return JSONResponse(error_body(self.code, self.message), status_code=self.status_code)


@dataclass(frozen=True)
class Handshake:
    principal: Principal
    subprotocol: str | None


def _token(websocket: WebSocket) -> str | None:
    for entry in websocket.scope.get("subprotocols") or []:
        if entry.startswith(BEARER_PREFIX) and len(entry) > len(BEARER_PREFIX):
            return entry[len(BEARER_PREFIX) :]
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _origin_allowed(websocket: WebSocket, origin: str, resources: Resources) -> bool:
    """In the allowlist, or the server's own origin: the UI served at ``/`` connects from
    wherever the server runs (any host and port), and a same-origin page is not the
    cross-site use the allowlist guards against."""
    if origin in resources.settings.allowed_origins:
        return True
    host = websocket.headers.get("host")
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    if not host or not netloc:  # e.g. "Origin: null" from a sandboxed page
        return False
    return netloc.lower() == host.lower()


async def authenticate(websocket: WebSocket, resources: Resources) -> Handshake:
    origin = websocket.headers.get("origin")
    if origin is not None and not _origin_allowed(websocket, origin, resources):
        raise HandshakeRefused(403, "origin_not_allowed", f"Origin {origin!r} is not allowed")
    leaked = sorted(QUERY_TOKEN_PARAMS.intersection(k.lower() for k in websocket.query_params))
    if leaked:
        raise HandshakeRefused(
            401,
            "token_in_query",
            f"credentials are not accepted in the query string ({', '.join(leaked)}); send "
            f"'{BEARER_PREFIX}<JWT>' as a Sec-WebSocket-Protocol entry or an Authorization header",
        )
    offered = websocket.scope.get("subprotocols") or []
    protocols = [p for p in offered if not p.startswith(BEARER_PREFIX)]
    if protocols and SUBPROTOCOL not in protocols:
        raise HandshakeRefused(
            400,
            "unsupported_subprotocol",
            f"subprotocols {', '.join(protocols)} not supported; this server speaks {SUBPROTOCOL}",
        )
    token = _token(websocket)
    if token is None:
        raise HandshakeRefused(
            401,
            "missing_token",
            f"no access token: send '{BEARER_PREFIX}<JWT>' as a Sec-WebSocket-Protocol entry "
            "or an Authorization: Bearer header",
        )
    from tokenomist.auth import service as auth_service

    try:
        principal = await auth_service.authenticate_access_token(resources, token)
    except Unauthorized as exc:
        raise HandshakeRefused(401, exc.code, exc.message) from None
    return Handshake(principal, SUBPROTOCOL if SUBPROTOCOL in offered else None)
