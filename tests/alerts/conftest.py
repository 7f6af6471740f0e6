"""A real webhook receiver (uvicorn on a free port) that checks each request's signature,
and the app on each SQL backend (PostgreSQL together with Redis) with fast retries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn

from tests.support.servers import free_port, live_server
from tests.usage.conftest import account

WAIT_S = 60  # a generous bound on a loaded machine; a pass returns as soon as the event is in


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers ``fail_first`` requests with 500, then 200; every request is kept."""

    port: int = field(default_factory=free_port)
    fail_first: int = 0
    requests: list[Received] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status = 500 if len(self.requests) < self.fail_first else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        async with self._changed:
            self.requests.append(Received(scope["path"], headers, body))
            self._changed.notify_all()

    async def wait_for(self, n: int) -> list[Received]:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.requests) >= n), timeout=WAIT_S
            )
        return list(self.requests)


def signed_by(secret: str, request: Received) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers.get("x-tokenomist-signature", ""), expected)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    server = uvicorn.Server(
        uvicorn.Config(rec, host="127.0.0.1", port=rec.port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield rec
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def alert_settings(make_settings, sql_backend: str):
    # Retries 50 ms apart so a test never waits on backoff; the schedule is an hour so only
    # ingests, budget changes and retries drive the engine (what the tests wait on).
    return make_settings(
        sql=sql_backend,
        cache="redis" if sql_backend == "postgresql" else "memory",
        alerts_retry_base_s=0.05,
        alerts_eval_interval_s=3600,
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


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def records(n: int, project: str = "app", **kw) -> list[dict]:
    """``n`` identical calls (distinct ids) now: each costs the same."""
    base = {"timestamp": now_iso(), "provider": "openai", "model": "gpt-4o", "project": project,
            "feature": "chat", "input_tokens": 10_000, "output_tokens": 1_000}  # fmt: skip
    return [{**base, **kw, "request_id": uuid.uuid4().hex} for _ in range(n)]


async def ingest(client: httpx.AsyncClient, user: dict, rows: list[dict]) -> float:
    resp = await client.post("/api/v1/usage", json=rows, headers=user)
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == len(rows), resp.text
    return resp.json()["cost_usd"]


async def webhook(client: httpx.AsyncClient, user: dict, url: str) -> dict:
    resp = await client.post(
        "/api/v1/alert-channels", json={"kind": "webhook", "url": url}, headers=user
    )
    assert resp.status_code == 201, resp.text
    return resp.json()
