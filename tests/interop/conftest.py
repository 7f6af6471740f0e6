"""Interop suites: a live server with the demo workload loaded for one user's org, keys of that
org with and without ``read``, and a second org. Helpers are in tests/support/interop.py."""

from __future__ import annotations

import pytest

from tests.support.analyst import demo_workload, load, register
from tests.support.interop import Org, api_key
from tests.support.servers import live_server


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
