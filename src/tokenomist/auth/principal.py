"""Who is calling: the result of authenticating a request, a WebSocket handshake or an SSE
stream. Consumers import it from ``tokenomist.auth.dependencies``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SCOPES = frozenset({"ingest", "read"})


@dataclass(frozen=True)
class Principal:
    org_id: str
    user_id: str | None
    email: str | None
    role: str | None
    kind: Literal["user", "api_key"]
    scopes: frozenset[str]
    expires_at: datetime | None
    # Identify the credential itself (for logout, audit): the access token's jti and refresh
    # family for users, the key id for API keys.
    token_id: str | None = None
    family_id: str | None = None
    api_key_id: str | None = None
