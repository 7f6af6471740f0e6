"""Fixtures for the usage suites: opened resources (no HTTP) and accounts over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tokenomist.kit.resources import close_resources, open_resources
from tokenomist.usage import lifecycle

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# CI checks out shared/ beside the clone; the suites that need the real trace skip without it.
AZURE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "azure-llm-trace-2023"
AZURE_CONV = AZURE_DIR / "AzureLLMInferenceTrace_conv.csv"
AZURE_CODE = AZURE_DIR / "AzureLLMInferenceTrace_code.csv"
PASSWORD = "correct horse battery"


def require_azure(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"the Azure LLM trace is not at {path.resolve()} (shared/ beside the clone)")
    return path


@pytest.fixture
async def resources(make_settings) -> AsyncIterator:
    """The app's resources on the embedded tiers, with the usage domain started."""
    res = await open_resources(make_settings())
    await lifecycle.start(res)
    try:
        yield res
    finally:
        await lifecycle.stop(res)
        await close_resources(res)


def org() -> str:
    return uuid.uuid4().hex


async def account(client: httpx.AsyncClient) -> dict[str, str]:
    """A fresh user (and its own org) → auth headers."""
    email = f"usage-{uuid.uuid4().hex[:10]}@example.com"
    resp = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 201, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


async def api_key(client: httpx.AsyncClient, user_headers: dict, scopes: list[str]) -> str:
    resp = await client.post(
        "/api/v1/api-keys", json={"name": "test", "scopes": scopes}, headers=user_headers
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["key"]


def error_code(resp: httpx.Response) -> str:
    return resp.json()["error"]["code"]
