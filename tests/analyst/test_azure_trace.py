"""The real Azure LLM inference trace (2023), imported over HTTP with a stated provider and
model (the trace names neither), analysed end to end without error."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.analyst.conftest import agents_of, ask, register

DATA = Path("/work/shared/data/azure-llm-trace-2023")
FILES = {"code": "AzureLLMInferenceTrace_code.csv", "conv": "AzureLLMInferenceTrace_conv.csv"}


@pytest.fixture
def trace_dir() -> Path:
    if not all((DATA / f).exists() for f in FILES.values()):
        pytest.skip(f"Azure trace not present at {DATA}")
    return DATA


async def test_azure_trace_is_analysed_end_to_end(embedded_server, trace_dir):
    srv = embedded_server
    user = await register(srv.url)
    async with httpx.AsyncClient(base_url=srv.url, headers=user.headers, timeout=120) as client:
        for project, name in FILES.items():
            r = await client.post(
                "/api/v1/usage/import",
                params={
                    "format": "azure-trace",
                    "provider": "openai",
                    "model": "gpt-4o",
                    "project": project,
                },
                content=(trace_dir / name).read_bytes(),
            )
            assert r.status_code == 200, r.text
            assert r.json()["rejected"] == 0
    run, frames = await ask(srv, user, "How can we cut our AI spend?")
    assert run["status"] == "completed", run
    assert agents_of(frames) == ["triage", "data", "optimization", "actions", "reporting"]
    report = run["report"]
    rows = await srv.resources.analytics.query(
        "SELECT count() AS n, sum(cost_usd) AS s, min(timestamp) AS a, max(timestamp) AS b "
        "FROM llm_usage FINAL WHERE org_id = {org:String}",
        {"org": user.org_id},
    )
    lines = sum(len((trace_dir / n).read_text().splitlines()) - 1 for n in FILES.values())
    assert report["requests"] == rows[0]["n"] == lines
    assert report["spend_usd"] == pytest.approx(rows[0]["s"], abs=1e-3)
    assert report["unpriced_requests"] == 0
    # The trace is from 2023: periods anchor on its last record, not on today.
    assert report["window"]["anchor"] == "latest_usage"
    assert report["window"]["to"].startswith("2023-11-16")
    assert len(report["strategies_checked"]) == 7
    for s in report["strategies"]:
        assert 0 < s["savings_usd"] <= report["spend_usd"]
    assert report["monthly_savings_usd"] <= report["monthly_run_rate_usd"]
    assert sum(g["cost_usd"] for g in report["breakdown"]["groups"]) == pytest.approx(
        report["spend_usd"], abs=1e-3
    )
