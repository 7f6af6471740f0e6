"""Helpers for the alerts suites: a real webhook receiver (an ASGI app the fixture serves with
uvicorn on a free port) that keeps every request, signature checks, and usage rows and webhook
channels over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.support.servers import free_port, serving

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


@contextlib.asynccontextmanager
async def running_receiver(**kw: Any) -> AsyncIterator[Receiver]:
    """A ``Receiver`` served by uvicorn on its free port for the ``with`` block."""
    rec = Receiver(**kw)
    async with serving(rec, rec.port):
        yield rec


def signed_by(secret: str, request: Received) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers.get("x-tokenomist-signature", ""), expected)


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
