"""The report's words and numbers agree with each other: the strategy table and the actions
restate the same $/month, durations read in one unit, counts take their plural, and a plan
on a minute of traffic is never "high" confidence (the issue's measured report text)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from tests.support.analyst import DEMO_END, ask, demo_workload, load, register
from tokenomist.analyst import fmt


def _plan_agrees(report: dict, content: str) -> None:
    assert report["strategies"], content
    for s in report["strategies"]:
        acts = [a["monthly_savings_usd"] for a in report["actions"] if a["strategy_id"] == s["id"]]
        assert sum(acts) == pytest.approx(s["monthly_savings_usd"], abs=1e-9), s["id"]
        assert f"| {fmt.money(s['monthly_savings_usd'])} |" in content
        if len(acts) == 1:
            assert f"{fmt.per_month(acts[0])} (`{s['id']}`)" in content
    total = sum(s["monthly_savings_usd"] for s in report["strategies"])
    assert report["monthly_savings_usd"] == pytest.approx(total, abs=1e-9)
    assert f"from {fmt.plural(len(report['strategies']), 'strategy')}," in content
    assert not re.search(r"\b1 strategies\b|\b1 requests\b|\b1 minutes\b|\b1 days\b", content)


def _squeezed(records: list[dict], seconds: float) -> list[dict]:
    """The demo workload replayed within ``seconds`` before its end (order kept)."""
    times = [_ts(r["timestamp"]) for r in records]
    span = (DEMO_END - min(times)).total_seconds()
    return [
        {**r, "timestamp": DEMO_END - timedelta(seconds=(DEMO_END - t).total_seconds() / span
                                                 * seconds)}
        for r, t in zip(records, times, strict=True)
    ]  # fmt: skip


def _ts(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(
        value.replace("Z", "+00:00"))  # fmt: skip


async def test_a_plan_states_each_saving_once_in_agreeing_words(embedded_server):
    srv = embedded_server
    user = await register(srv.url)
    await load(srv, user.org_id, demo_workload().records)
    run, _ = await ask(srv, user, "How can we cut our AI spend?")
    _plan_agrees(run["report"], run["content"])
    assert all(s["confidence"] in ("medium", "high") for s in run["report"]["strategies"])


async def test_a_minute_of_traffic_reads_as_a_minute_and_is_low_confidence(embedded_server):
    srv = embedded_server
    user = await register(srv.url)
    await load(srv, user.org_id, _squeezed(demo_workload().records, 60))
    run, _ = await ask(srv, user, "How can we cut our AI spend?")
    report, content = run["report"], run["content"]
    assert report["window"]["label"] == "all data (1 minute)"
    assert "(1 minute, " in content  # the headline's span, in the same unit as the label
    assert "0.042 days" not in content and "1.0 hours" not in content
    assert "The traffic lasted 1 minute" in content
    _plan_agrees(report, content)
    for s in report["strategies"]:
        assert s["confidence"] == "low", s
        assert "of traffic" in s["confidence_note"]
    # Small figures keep enough digits to differ from each other.
    for a, b in re.findall(r"would cost (\$[\d.,]+) instead of (\$[\d.,]+)", content):
        assert a != b


@pytest.mark.parametrize(
    "question",
    ["this month vs last month", "what would support-triage cost on gpt-4o-mini?", "why?",
     "which models are unpriced?", "hello"],
)  # fmt: skip
async def test_an_org_without_usage_gets_the_no_usage_answer_to_any_question(
    embedded_server, question
):
    user = await register(embedded_server.url)
    run, _ = await ask(embedded_server, user, question)
    assert run["status"] == "completed", run
    if run["report"]["intent"]["kind"] != "help":
        assert run["content"].startswith("## No usage data yet")
    assert "$" not in run["content"]
