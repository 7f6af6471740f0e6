"""Helpers for the analyst suites: users over HTTP, usage rows into the server's analytics
tier, runs started over HTTP and followed over SSE (real HTTP everywhere)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import httpx
from httpx_sse import aconnect_sse

from tests.analyst.rows import insert_records
from tests.support.servers import LiveServer
from tokenomist.usage import demo

PASSWORD = "correct horse battery staple 42"
TERMINAL = {"run_completed", "run_failed"}
# A fixed end keeps the demo workload identical across tests (and its cache valid).
DEMO_END = datetime(2026, 11, 20, tzinfo=UTC)


@dataclass
class User:
    email: str
    token: str
    user_id: str
    org_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(base_url: str) -> User:
    email = f"an-{uuid.uuid4().hex[:12]}@example.com"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        r = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        body = r.json()
    return User(email, body["access_token"], body["user"]["id"], body["user"]["org"]["id"])


@lru_cache(maxsize=4)
def demo_workload(planted: bool = True) -> demo.DemoWorkload:
    return demo.generate(seed=7, days=30, end=DEMO_END, planted=planted)


async def load(server: LiveServer, org_id: str, records: list[dict]) -> None:
    res = server.resources
    await insert_records(res.analytics, org_id, records, res.pricer)


async def start_run(server: LiveServer, user: User, question: str, **extra) -> dict:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        r = await client.post(
            "/api/v1/runs", json={"message": question, **extra}, headers=user.headers
        )
    assert r.status_code == 202, r.text
    return r.json()


async def read_events(
    server: LiveServer, user: User, run_id: str, last_event_id: int | None = None
) -> list[dict]:
    """Every SSE frame of the run until its terminal event (or the stream's end)."""
    headers = dict(user.headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    frames = []
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=120) as client,
        aconnect_sse(client, "GET", f"/api/v1/runs/{run_id}/events", headers=headers) as sse,
    ):
        assert sse.response.status_code == 200, await sse.response.aread()
        async for event in sse.aiter_sse():
            frame = json.loads(event.data)
            if event.event != "error":
                assert event.id == str(frame["seq"])
                assert event.event == frame["type"]
            frames.append(frame)
            if frame.get("type") in TERMINAL:
                break
    return frames


async def get_run(server: LiveServer, user: User, run_id: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return await client.get(f"/api/v1/runs/{run_id}", headers=user.headers)


async def ask(server: LiveServer, user: User, question: str) -> tuple[dict, list[dict]]:
    """Start a run, follow it to the end over SSE; return the stored run and its frames."""
    accepted = await start_run(server, user, question)
    frames = await asyncio.wait_for(read_events(server, user, accepted["run_id"]), 120)
    r = await get_run(server, user, accepted["run_id"])
    assert r.status_code == 200, r.text
    return r.json(), frames


def agents_of(frames: list[dict]) -> list[str]:
    return [f["data"]["agent"] for f in frames if f["type"] == "agent_started"]
