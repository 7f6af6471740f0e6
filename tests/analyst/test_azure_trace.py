"""The real Azure LLM inference trace (2023), imported over HTTP with a stated provider and
model (the trace names neither), analysed end to end without error."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.support.analyst import agents_of, ask, demo_workload, load, register
from tests.support.usage import AZURE_CODE, AZURE_CONV, AZURE_DIR, require_azure
from tokenomist.analyst import fmt

FILES = {"code": AZURE_CODE.name, "conv": AZURE_CONV.name}


@pytest.fixture
def trace_dir() -> Path:
    require_azure(AZURE_CODE)
    require_azure(AZURE_CONV)
    return AZURE_DIR


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


async def _import_conv(srv, user, trace_dir: Path) -> None:
    async with httpx.AsyncClient(base_url=srv.url, headers=user.headers, timeout=120) as client:
        r = await client.post(
            "/api/v1/usage/import",
            params={
                "format": "azure-trace",
                "provider": "openai",
                "model": "gpt-4o",
                "project": "conv",
            },
            content=(trace_dir / FILES["conv"]).read_bytes(),
        )
    assert r.status_code == 200, r.text


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_2023_import_beside_recent_data_is_stated_and_answerable(
    embedded_server, trace_dir
):
    """The measured case of the issue: a 2023 trace in an org that also has recent usage."""
    srv = embedded_server
    user = await register(srv.url)
    await load(srv, user.org_id, demo_workload().records)  # 30 days to 2026-11-20
    await _import_conv(srv, user, trace_dir)
    rows = await srv.resources.analytics.query(
        "SELECT count() AS n, sum(cost_usd) AS s, min(timestamp) AS a, max(timestamp) AS b "
        "FROM llm_usage FINAL WHERE org_id = {org:String} AND project = 'conv'",
        {"org": user.org_id},
    )
    conv_n, conv_usd = rows[0]["n"], rows[0]["s"]
    assert conv_n == len(AZURE_CONV.read_text().splitlines()) - 1

    # The default window is the recent data; the imported rows are named as left out.
    run, _ = await ask(srv, user, "how much did we spend?")
    before = run["report"]["left_out"]["before"]
    assert before["requests"] == conv_n
    assert (
        f"{conv_n:,} requests before this window ({fmt.money(conv_usd)}) are not included — "
        "ask about 'all data' or 'November 2023'."
    ) in run["content"]

    # The conv project, named without a period: its own data, not $0 over the last 30 days.
    for question in (
        "what did we spend on the conv project?",
        "how much did the conv project spend in November 2023?",
        "what did we spend between 2023-11-01 and 2023-11-30?",
    ):
        run, _ = await ask(srv, user, question)
        report = run["report"]
        assert report["requests"] == conv_n, question
        assert report["spend_usd"] == pytest.approx(conv_usd, abs=1e-3), question
        assert fmt.money(conv_usd) in run["content"]
        assert _t(report["window"]["from"]) <= _t(rows[0]["a"].replace(" ", "T") + "Z")
        assert "No savings found" not in run["content"]

    # Over all time, the run-rate comes from the day with traffic, with the gap named.
    run, _ = await ask(srv, user, "how much did the conv project spend over all time?")
    report = run["report"]
    w = report["window"]
    assert w["days"] > 1000 and w["active_days"] == 1  # a 58-minute burst: one day
    assert "monthly figures come from the 1 day with traffic" in run["content"]
    assert "The traffic lasted 58 minutes" in run["content"]
    assert report["monthly_run_rate_usd"] == pytest.approx(
        conv_usd * 30 / w["active_days"], rel=1e-3
    )
    assert any(s.startswith("No traffic on 1,") for s in report["statements"])
