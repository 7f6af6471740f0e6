"""Helpers for the realtime suites: users over HTTP, a `websockets` client speaking
tokenomist.v1, and collectors that read a run's frames until its terminal event."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tokenomist.realtime.protocol import SUBPROTOCOL

TERMINAL = {"run_completed", "run_failed"}
PASSWORD = "correct horse battery staple 42"


@dataclass
class User:
    email: str
    access_token: str
    user_id: str


async def register(base_url: str, email: str | None = None) -> User:
    email = email or f"rt-{uuid.uuid4().hex[:12]}@example.com"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        r = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        body = r.json()
    return User(email, body["access_token"], body["user"]["id"])


async def seed_usage(base_url: str, user: User, days: int = 7) -> int:
    """Give the user's org a real workload (the demo generator, with planted savings) so runs
    answer from data."""
    from tokenomist.usage.demo import generate

    records = generate(seed=7, days=days).records
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        r = await client.post(
            "/api/v1/usage",
            json=records,
            headers={"Authorization": f"Bearer {user.access_token}"},
        )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(records)
    return len(records)


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/ws"


def connect_ws(base_url: str, token: str | None, **kwargs):
    protocols = [SUBPROTOCOL] + ([f"bearer.{token}"] if token else [])
    return connect(
        ws_url(base_url),
        subprotocols=protocols,
        open_timeout=30,
        max_size=2**22,
        **kwargs,
    )


async def recv_json(ws: ClientConnection, timeout: float = 30) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def send_json(ws: ClientConnection, frame: dict) -> None:
    await ws.send(json.dumps(frame))


@dataclass
class Frames:
    """Everything a client received, and per run its frames in arrival order."""

    all: list[dict] = field(default_factory=list)
    runs: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, frame: dict) -> None:
        self.all.append(frame)
        if frame.get("run_id"):
            self.runs.setdefault(frame["run_id"], []).append(frame)

    def done(self, run_id: str) -> bool:
        return any(f["type"] in TERMINAL for f in self.runs.get(run_id, []))


async def read_until_terminal(
    ws: ClientConnection, frames: Frames, run_ids: set[str] | None = None, timeout: float = 120
) -> None:
    """Read frames until every run in ``run_ids`` (or the first run seen) has ended."""

    async def _loop() -> None:
        while True:
            frame = await recv_json(ws, timeout)
            frames.add(frame)
            wanted = run_ids or ({frame["run_id"]} if frame.get("run_id") else set())
            if wanted and all(frames.done(r) for r in wanted):
                return

    await asyncio.wait_for(_loop(), timeout)
