"""Interop suites: a live server with the demo workload loaded for one user's org, keys of that
org with and without ``read``, and a second org."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.analyst.conftest import User, demo_workload, load, register
from tests.support.servers import LiveServer, live_server


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


@pytest.fixture
async def org(make_settings) -> Org:
    async with live_server(make_settings()) as server:
        user = await register(server.url)
        await load(server, user.org_id, demo_workload().records)
        other = await register(server.url)
        yield Org(
            server,
            user,
            await api_key(server, user, ["read"]),
            await api_key(server, user, ["ingest"]),
            await api_key(server, other, ["read"]),
        )
