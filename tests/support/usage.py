"""Helpers for the usage suites: the format fixtures, the real Azure LLM trace, and accounts and
API keys over real HTTP."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.env import IN_CI

FIXTURES = Path(__file__).resolve().parents[1] / "usage" / "fixtures"
# CI checks out shared/ beside the clone; locally the suites that need the real trace skip
# without it, under CI=true they fail (nothing skips there).
AZURE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "azure-llm-trace-2023"
AZURE_CONV = AZURE_DIR / "AzureLLMInferenceTrace_conv.csv"
AZURE_CODE = AZURE_DIR / "AzureLLMInferenceTrace_code.csv"
PASSWORD = "correct horse battery"


def require_azure(path: Path) -> Path:
    if not path.exists():
        message = f"the Azure LLM trace is not at {path.resolve()} (shared/ beside the clone)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(message)
    return path


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
