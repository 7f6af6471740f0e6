"""Helpers for the interop suites: an org with the demo workload and its API keys."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tests.support.analyst import User
from tests.support.servers import LiveServer


@dataclass
class Org:
    server: LiveServer
    user: User
    read_key: str
    ingest_key: str
    other_read_key: str  # a key of another org


async def api_key(server: LiveServer, user: User, scopes: list[str]) -> str:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        r = await client.post(
            "/api/v1/api-keys", json={"name": "interop", "scopes": scopes}, headers=user.headers
        )
    assert r.status_code == 201, r.text
    return r.json()["key"]
