"""Helpers for the analyst suites: users over HTTP, usage rows into the server's analytics
tier, runs started over HTTP and followed over SSE (real HTTP everywhere)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.analyst import bank
from tests.analyst.llm_server import FakeLLM
from tests.analyst.rows import insert_records
from tests.conftest import TEST_JWT_SECRET
from tests.support.servers import LiveServer, live_server
from tokenomist.settings import Environment, Settings
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


@pytest.fixture
async def app_server(make_settings, sql_backend):
    """The app over real HTTP on each SQL backend."""
    async with live_server(make_settings(sql=sql_backend)) as srv:
        yield srv


def _misleading_llm(question: str) -> dict:
    """A model that gets every usage question wrong (and knows small talk when it sees it)."""
    if question in bank.HELP:
        return {"kind": "help", "dimension": None, "period": {"kind": "default", "days": None},
                "filters": {}}  # fmt: skip
    return {"kind": "optimize", "dimension": "provider", "period": {"kind": "all", "days": None},
            "filters": {"model": "gemini-1.5-pro", "project": "legal"}}  # fmt: skip


@pytest.fixture(scope="module", params=["none", "llm"])
async def bank_org(request, tmp_path_factory, chdb_dir):
    overrides: dict[str, Any] = {}
    llm = None
    if request.param == "llm":
        llm = FakeLLM()
        llm.intent_for = _misleading_llm
        overrides = {"llm": "openai", "llm_base_url": llm.base_url, "llm_api_key": "k",
                     "llm_model": "test-model"}  # fmt: skip
    settings = Settings(
        _env_file=None,
        environment=Environment.test,
        data_dir=tmp_path_factory.mktemp("bank") / "data",
        chdb_dir=chdb_dir,
        analytics_database=f"t_{uuid.uuid4().hex[:12]}",
        jwt_secret=TEST_JWT_SECRET,
        **overrides,
    )
    if llm is not None:
        async with llm.serve(), live_server(settings) as srv:
            user = await register(srv.url)
            await load(srv, user.org_id, [r.record(i) for i, r in enumerate(bank.ROWS)])
            yield srv, user, request.param
    else:
        async with live_server(settings) as srv:
            user = await register(srv.url)
            await load(srv, user.org_id, [r.record(i) for i, r in enumerate(bank.ROWS)])
            yield srv, user, request.param
