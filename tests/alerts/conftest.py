"""A real webhook receiver (uvicorn on a free port) that checks each request's signature,
and the app on each SQL backend (PostgreSQL together with Redis) with fast retries. Helpers are
in tests/support/alerts.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.alerts import Receiver, running_receiver
from tests.support.servers import live_server
from tests.support.usage import account


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as rec:
        yield rec


@pytest.fixture
def alert_settings(make_settings, sql_backend: str):
    # Retries 50 ms apart so a test never waits on backoff; the schedule is an hour so only
    # ingests, budget changes and retries drive the engine (what the tests wait on).
    return make_settings(
        sql=sql_backend,
        cache="redis" if sql_backend == "postgresql" else "memory",
        alerts_retry_base_s=0.05,
        alerts_eval_interval_s=3600,
        alerts_allow_private_urls=True,  # the receiver listens on loopback
    )


@pytest.fixture
async def app_server(alert_settings):
    async with live_server(alert_settings) as srv:
        yield srv


@pytest.fixture
async def client(app_server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app_server.url, timeout=60) as c:
        yield c


@pytest.fixture
async def user(client) -> dict[str, str]:
    return await account(client)
