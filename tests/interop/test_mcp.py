"""The MCP server, driven by the official MCP Python client over streamable HTTP."""

from __future__ import annotations

import contextlib
import json

import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.support.interop import Org


@contextlib.asynccontextmanager
async def mcp_session(url: str, token: str):
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=120) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def _http(org: Org, path: str, **params) -> dict:
    async with httpx.AsyncClient(base_url=org.server.url, timeout=60) as client:
        r = await client.get(path, params=params, headers=org.user.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_tools_match_the_analyst_catalogue_and_figures_match_http(org: Org) -> None:
    catalogue = await _http(org, "/api/v1/analyst/tools")
    async with mcp_session(org.server.url, org.read_key) as session:
        listed = {t.name: t for t in (await session.list_tools()).tools}
        for tool in catalogue:
            assert listed[tool["name"]].input_schema == tool["parameters"]
        assert {"ask", "estimate_cost"} <= set(listed)

        result = await session.call_tool("spend_summary", {})
    assert not result.is_error, result.content
    summary = (await _http(org, "/api/v1/usage/summary"))["totals"]
    got = result.structured_content
    assert got["requests"] == summary["requests"] > 0
    assert got["cost_usd"] == pytest.approx(summary["cost_usd"], rel=1e-9)
    assert json.loads(result.content[0].text)["requests"] == summary["requests"]


async def test_ask_returns_the_runs_answer(org: Org) -> None:
    async with mcp_session(org.server.url, org.user.token) as session:
        result = await session.call_tool("ask", {"question": "How can we cut our AI spend?"})
    assert not result.is_error, result.content
    answer = result.structured_content
    run = await _http(org, f"/api/v1/runs/{answer['run_id']}")
    assert run["status"] == answer["status"] == "completed"
    assert answer["content"] == run["content"]
    assert answer["report"] == run["report"]
    assert answer["report"]["spend_usd"] > 0 and answer["report"]["strategies"]


async def test_estimate_cost_uses_the_price_data_and_says_unpriced(org: Org) -> None:
    args = {
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1_000_000,
        "output_tokens": 1_000_000,
    }
    async with mcp_session(org.server.url, org.read_key) as session:
        priced = (await session.call_tool("estimate_cost", args)).structured_content
        unknown = await session.call_tool("estimate_cost", {**args, "model": "no-such-model"})
        bad = await session.call_tool("estimate_cost", {**args, "input_tokens": -1})
    assert priced["cost_usd"] == pytest.approx(
        org.server.resources.pricer.cost(
            "openai", "gpt-4o", input_tokens=1_000_000, output_tokens=1_000_000
        )
    )
    assert priced["cost_usd"] > 0
    assert unknown.structured_content["cost_usd"] is None
    assert unknown.structured_content["priced"] is False
    assert bad.is_error and "input_tokens" in bad.content[0].text


async def test_another_orgs_key_sees_only_its_own_org(org: Org) -> None:
    async with mcp_session(org.server.url, org.other_read_key) as session:
        result = await session.call_tool("spend_summary", {})
    assert result.structured_content["requests"] == 0


@pytest.mark.parametrize("who", ["none", "garbage", "ingest_only"])
async def test_refused_without_a_read_credential(org: Org, who: str) -> None:
    headers = {
        "none": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "ingest_only": {"Authorization": f"Bearer {org.ingest_key}"},
    }[who]
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    async with httpx.AsyncClient(base_url=org.server.url, timeout=30) as client:
        r = await client.post(
            "/mcp",
            json=init,
            headers={**headers, "Accept": "application/json, text/event-stream"},
        )
    assert r.status_code == (403 if who == "ingest_only" else 401), r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    if who == "ingest_only":
        assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
        with pytest.raises(Exception):  # noqa: B017 - the SDK's own error for an HTTP 403
            async with mcp_session(org.server.url, org.ingest_key) as session:
                await session.list_tools()


async def test_discovery_advertises_mcp_and_agui(org: Org) -> None:
    body = await _http(org, "/api/v1/discovery")
    assert body["endpoints"]["mcp"] == f"{org.server.url}/mcp"
    assert body["endpoints"]["agui"] == f"{org.server.url}/api/v1/agui"


async def test_ask_with_an_api_key_says_it_needs_a_user(org: Org) -> None:
    async with mcp_session(org.server.url, org.read_key) as session:
        result = await session.call_tool("ask", {"question": "How can we cut our AI spend?"})
        unknown = await session.call_tool("no_such_tool", {})
    assert result.is_error and "user access token" in result.content[0].text
    assert unknown.is_error and "no_such_tool" in unknown.content[0].text


async def test_a_deleted_key_is_refused(org: Org) -> None:
    async with httpx.AsyncClient(base_url=org.server.url, timeout=30) as client:
        keys = (await client.get("/api/v1/api-keys", headers=org.user.headers)).json()["items"]
        key_id = next(k["id"] for k in keys if org.read_key.startswith(k["prefix"]))
        r = await client.delete(f"/api/v1/api-keys/{key_id}", headers=org.user.headers)
        assert r.status_code == 204, r.text
        r = await client.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": f"Bearer {org.read_key}"},
        )
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")


async def test_budgets_status_and_anomalies_match_http(org: Org) -> None:
    async with httpx.AsyncClient(base_url=org.server.url, timeout=60) as client:
        created = await client.post(
            "/api/v1/budgets",
            json={"name": "demo month", "period": "month", "amount_usd": 500.0},
            headers=org.user.headers,
        )
        assert created.status_code == 201, created.text
    window = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-20T00:00:00Z"}
    async with mcp_session(org.server.url, org.read_key) as session:
        listed = {t.name for t in (await session.list_tools()).tools}
        assert {"budgets_status", "anomalies"} <= listed
        status = await session.call_tool("budgets_status", {})
        found = await session.call_tool("anomalies", window)
        bad = await session.call_tool("anomalies", {"granularity": "minute"})
    assert not status.is_error, status.content
    (budget,) = status.structured_content["budgets"]
    (http_budget,) = (await _http(org, "/api/v1/budgets"))["items"]
    assert budget["id"] == http_budget["id"]
    for k in ("spent_usd", "status", "amount_usd", "period_start", "period_end"):
        assert budget[k] == http_budget[k], k
    # The forecast runs to the end of the period from now: a second later, a hair less is left.
    assert budget["forecast_usd"] == pytest.approx(http_budget["forecast_usd"], rel=1e-4)
    month = status.structured_content["month_forecast"]
    http_month = await _http(org, "/api/v1/usage/forecast")
    assert month["forecast_usd"] == pytest.approx(http_month["forecast_usd"], rel=1e-4)
    assert month["spent_usd"] == http_month["spent_usd"]
    assert not found.is_error, found.content
    # ``to`` is inclusive in the analyst's tools: the window ends 1 ms later over HTTP.
    http_found = await _http(
        org, "/api/v1/anomalies", **{**window, "to": "2026-11-20T00:00:00.001Z"}
    )
    assert found.structured_content["result"] == http_found
    assert bad.is_error and "granularity" in bad.content[0].text
