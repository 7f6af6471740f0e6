"""Plain spend questions: triage skips optimization and actions, and the figures equal a
direct query over the org's usage for the period the report states."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.analyst import agents_of, ask, demo_workload, load, register
from tests.support.servers import live_server

SPEND_AGENTS = ["triage", "data", "reporting"]


async def latest(server, org_id: str) -> str:
    rows = await server.resources.analytics.query(
        "SELECT max(timestamp) AS t FROM llm_usage FINAL WHERE org_id = {org:String}",
        {"org": org_id},
    )
    return rows[0]["t"]


async def test_spend_on_a_model_last_week_equals_a_direct_query(embedded_server):
    srv = embedded_server
    user = await register(srv.url)
    await load(srv, user.org_id, demo_workload().records)
    run, frames = await ask(srv, user, "what did we spend on gpt-4o last week?")
    assert agents_of(frames) == SPEND_AGENTS
    report = run["report"]
    end = await latest(srv, user.org_id)
    rows = await srv.resources.analytics.query(
        """
        SELECT sum(cost_usd) AS spend, count() AS n FROM llm_usage FINAL
        WHERE org_id = {org:String} AND model = 'gpt-4o'
          AND timestamp >= toDateTime64({end:String}, 3, 'UTC') - INTERVAL 7 DAY
          AND timestamp <= toDateTime64({end:String}, 3, 'UTC')
        """,
        {"org": user.org_id, "end": end},
    )
    assert rows[0]["n"] > 0
    assert report["spend_usd"] == pytest.approx(rows[0]["spend"], abs=1e-4)
    assert report["requests"] == rows[0]["n"]
    assert report["filters"] == {"model": "gpt-4o"}
    assert report["window"]["days"] == 7
    assert report["window"]["anchor"] == "latest_usage"
    assert report["window"]["to"].startswith(end.replace(" ", "T"))
    assert report["strategies"] == [] and report["monthly_savings_usd"] is None
    assert report["intent"]["kind"] == "spend"
    assert f"${report['spend_usd']:,.2f}" in run["content"]
    # Where that money went, by feature, sums to the same figure.
    groups = report["breakdown"]["groups"]
    assert report["breakdown"]["dimension"] == "feature"
    assert sum(g["cost_usd"] for g in groups) == pytest.approx(report["spend_usd"], abs=1e-4)


async def test_which_feature_costs_most_equals_a_direct_query(embedded_server):
    srv = embedded_server
    user = await register(srv.url)
    await load(srv, user.org_id, demo_workload().records)
    run, frames = await ask(srv, user, "which feature costs most?")
    assert agents_of(frames) == SPEND_AGENTS
    report = run["report"]
    rows = await srv.resources.analytics.query(
        """
        SELECT feature, sum(cost_usd) AS spend FROM llm_usage FINAL
        WHERE org_id = {org:String}
          AND timestamp >= toDateTime64({from:String}, 3, 'UTC')
          AND timestamp <= toDateTime64({to:String}, 3, 'UTC')
        GROUP BY feature ORDER BY spend DESC
        """,
        {
            "org": user.org_id,
            "from": report["window"]["from"].replace("T", " ").rstrip("Z"),
            "to": report["window"]["to"].replace("T", " ").rstrip("Z"),
        },
    )
    groups = report["breakdown"]["groups"]
    assert report["breakdown"]["dimension"] == "feature"
    assert [g["key"]["feature"] for g in groups] == [r["feature"] for r in rows]
    for g, r in zip(groups, rows, strict=True):
        assert g["cost_usd"] == pytest.approx(r["spend"], abs=1e-4)
    # The default window covers all of the demo's 30 days, so it is the org's whole spend.
    total = await srv.resources.analytics.query(
        "SELECT sum(cost_usd) AS s FROM llm_usage FINAL WHERE org_id = {org:String}",
        {"org": user.org_id},
    )
    assert report["spend_usd"] == pytest.approx(total[0]["s"], abs=1e-4)
    assert f"Largest feature: **{rows[0]['feature']}**" in run["content"]


async def test_daily_trend_question_gives_one_point_per_day(embedded_server):
    srv = embedded_server
    user = await register(srv.url)
    await load(srv, user.org_id, demo_workload(planted=False).records)
    run, frames = await ask(srv, user, "show our daily cost trend over the last 3 days")
    assert agents_of(frames) == SPEND_AGENTS
    series = run["report"]["time_series"]
    assert 3 <= len(series) <= 4  # 72 h from a mid-day anchor touch 4 calendar days
    assert sum(p["cost_usd"] for p in series) == pytest.approx(run["report"]["spend_usd"], abs=1e-4)


@pytest.mark.parametrize("days", ["999999999", "99999999999999999999"])
async def test_a_period_reaching_past_1970_starts_in_1970_instead_of_failing(embedded_server, days):
    """A question about "the last 999999999 days" used to fail triage (datetime overflow)."""
    srv = embedded_server
    user = await register(srv.url)
    await load(srv, user.org_id, demo_workload(planted=False).records)
    run, _ = await ask(srv, user, f"how much did we spend in the last {days} days?")
    assert run["status"] == "completed", run.get("error")
    assert run["report"]["window"]["from"] == "1970-01-01T00:00:00.000Z"
    assert run["report"]["spend_usd"] > 0


async def test_windows_anchor_on_the_clock_when_configured(make_settings):
    async with live_server(make_settings(analyst_window_anchor="now")) as srv:
        user = await register(srv.url)
        await load(srv, user.org_id, demo_workload().records)  # ends 2026-11-20
        before = datetime.now().astimezone()
        run, _ = await ask(srv, user, "how much did we spend last week?")
    report = run["report"]
    assert report["window"]["anchor"] == "now"
    assert datetime.fromisoformat(report["window"]["to"].replace("Z", "+00:00")) >= before
    assert "not from the clock" not in run["content"]


async def test_two_orgs_asking_at_once_each_get_only_their_own_figures(app_server):
    srv = app_server
    a, b = await register(srv.url), await register(srv.url)
    await load(srv, a.org_id, demo_workload().records)
    await load(srv, b.org_id, demo_workload(planted=False).records)
    (run_a, _), (run_b, _) = await asyncio.gather(
        ask(srv, a, "How can we cut our AI spend?"), ask(srv, b, "How can we cut our AI spend?")
    )
    for user, run in ((a, run_a), (b, run_b)):
        rows = await srv.resources.analytics.query(
            "SELECT sum(cost_usd) AS s, count() AS n FROM llm_usage FINAL "
            "WHERE org_id = {org:String}",
            {"org": user.org_id},
        )
        assert run["report"]["spend_usd"] == pytest.approx(rows[0]["s"], abs=1e-4)
        assert run["report"]["requests"] == rows[0]["n"]
    assert {s["id"] for s in run_a["report"]["strategies"]} == set(demo_workload().planted)
    assert run_b["report"]["strategies"] == []
    planted_features = {p.scope["feature"] for p in demo_workload().planted.values()}
    assert not any(f in run_b["content"] for f in planted_features)


def _unpriced_rows(known: int, unknown: int) -> list[dict]:
    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    rows = []
    for i in range(known + unknown):
        rows.append(
            {
                "request_id": f"r{i}",
                "timestamp": end - timedelta(hours=i),
                "provider": "openai" if i < known else "acme",
                "model": "gpt-4o-mini" if i < known else "acme-llm-9000",
                "input_tokens": 1000,
                "output_tokens": 100,
                "project": "p",
                "feature": "f",
            }
        )
    return rows


async def test_a_model_without_a_price_is_never_shown_at_zero_dollars(embedded_server):
    srv = embedded_server
    user = await register(srv.url)
    await load(srv, user.org_id, _unpriced_rows(known=10, unknown=20))
    run, _ = await ask(srv, user, "what did we spend by model last week?")
    report = run["report"]
    groups = {g["key"]["model"]: g for g in report["breakdown"]["groups"]}
    assert groups["acme-llm-9000"]["cost_usd"] is None  # unpriced, not $0
    assert groups["acme-llm-9000"]["unpriced_requests"] == 20
    assert groups["gpt-4o-mini"]["cost_usd"] == pytest.approx(report["spend_usd"])
    assert report["unpriced_requests"] == 20
    row = next(line for line in run["content"].splitlines() if "acme-llm-9000" in line)
    assert "$0.00" not in row and "unpriced" in row
    # The priced model is the whole of the priced spend.
    assert "**gpt-4o-mini** at" in run["content"] and "(100.0% of spend)" in run["content"]


async def test_an_org_with_only_unpriced_usage_has_no_dollar_spend(embedded_server):
    srv = embedded_server
    user = await register(srv.url)
    await load(srv, user.org_id, _unpriced_rows(known=0, unknown=12))
    run, _ = await ask(srv, user, "how much did we spend last week?")
    report = run["report"]
    assert run["status"] == "completed"
    assert report["requests"] == 12 and report["unpriced_requests"] == 12
    assert report["spend_usd"] is None and report["monthly_run_rate_usd"] is None
    assert all(g["cost_usd"] is None for g in report["breakdown"]["groups"])
    assert "$0.00" not in run["content"]
    assert "12 requests are unpriced" in run["content"]
    # A savings request on the same data completes with an empty plan, not $0 figures.
    plan, _ = await ask(srv, user, "How can we cut our AI spend?")
    assert plan["status"] == "completed"
    assert plan["report"]["strategies"] == [] and plan["report"]["spend_usd"] is None
    assert all(d["cost_usd"] is None for d in plan["report"]["top_cost_drivers"])
    assert "$0.00" not in plan["content"]
