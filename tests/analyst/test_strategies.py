"""The savings plan against the demo workload: every planted inefficiency is found with the
planted savings (±10 %), a clean workload gets an empty plan, unpriced usage is counted and
never priced at $0, and strategies combine without double counting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.analyst import ask, demo_workload, load, register
from tokenomist.analyst import lifecycle as analyst_lifecycle
from tokenomist.analyst.catalogue import CatalogueError, load_catalogue
from tokenomist.analyst.query import Window
from tokenomist.analyst.strategies import KINDS, ORDER, REGISTRY
from tokenomist.analyst.strategies.base import (
    CellSaving,
    CellStats,
    Finding,
    PriceBuckets,
    Repriced,
    StrategySection,
    reprice,
    same_cell,
    saving_cells,
)
from tokenomist.analyst.strategies.combine import combine
from tokenomist.kit.resources import StartupError, close_resources, open_resources
from tokenomist.usage import service as usage_service
from tokenomist.usage.pricing import Pricer

QUESTION = "How can we cut our AI spend?"


async def direct_spend(server, org_id: str) -> tuple[float, int]:
    rows = await server.resources.analytics.query(
        "SELECT sum(cost_usd) AS spend, countIf(cost_usd IS NULL) AS unpriced "
        "FROM llm_usage FINAL WHERE org_id = {org:String}",
        {"org": org_id},
    )
    return float(rows[0]["spend"] or 0), int(rows[0]["unpriced"])


async def test_each_planted_inefficiency_is_found_with_its_savings(embedded_server):
    srv = embedded_server
    user = await register(srv.url)
    workload = demo_workload()
    report = await usage_service.ingest_records(
        srv.resources, user.org_id, workload.records, source="demo"
    )
    assert report.accepted == len(workload.records)
    run, _ = await ask(srv, user, QUESTION)
    plan = run["report"]
    by_id = {s["id"]: s for s in plan["strategies"]}
    assert set(by_id) == set(workload.planted), plan["strategies"]
    for strategy_id, planted in workload.planted.items():
        found = by_id[strategy_id]
        for figure in ("standalone_savings_usd", "savings_usd"):
            assert found[figure] == pytest.approx(planted.savings_usd, rel=0.10), (
                strategy_id,
                figure,
                found[figure],
                planted.savings_usd,
            )
        top = found["scope"][0]
        assert {k: top[k] for k in planted.scope} == planted.scope, strategy_id
        assert found["monthly_savings_usd"] == pytest.approx(
            found["savings_usd"] * 30 / plan["window"]["days"], rel=1e-3
        )
        assert found["confidence"] in ("high", "medium", "low")
        assert found["actions"] and found["assumptions"] and found["evidence"]
    spend, unpriced = await direct_spend(srv, user.org_id)
    assert plan["spend_usd"] == pytest.approx(spend, abs=1e-3)
    assert plan["unpriced_requests"] == unpriced == 0
    assert plan["monthly_savings_usd"] == pytest.approx(
        sum(s["monthly_savings_usd"] for s in plan["strategies"]), abs=1e-3
    )
    assert plan["savings_pct"] == pytest.approx(plan["savings_usd"] / spend * 100, abs=0.01)
    assert {a["strategy_id"] for a in plan["actions"]} == set(workload.planted)
    for action in plan["actions"]:
        assert action["effort"] in ("low", "medium", "high")
        assert action["risk"] in ("low", "medium", "high")
    # The markdown carries the same headline figures.
    assert f"${plan['monthly_savings_usd']:,.2f}/month" in run["content"]
    assert f"${plan['spend_usd']:,.2f}" in run["content"]


async def test_clean_workload_gets_an_empty_plan(embedded_server):
    srv = embedded_server
    user = await register(srv.url)
    await load(srv, user.org_id, demo_workload(planted=False).records)
    run, _ = await ask(srv, user, QUESTION)
    plan = run["report"]
    assert plan["strategies"] == []
    assert plan["actions"] == []
    assert plan["monthly_savings_usd"] == 0
    assert plan["savings_pct"] == 0
    assert plan["strategies_checked"] == [m.ID for m in ORDER]
    assert plan["spend_usd"] > 0
    assert "No savings found" in run["content"]
    assert "| # | Strategy" not in run["content"]


async def test_unpriced_requests_are_counted_and_never_priced_at_zero(embedded_server):
    srv = embedded_server
    user = await register(srv.url)
    end = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [
        {
            "request_id": f"r{i}",
            "timestamp": end - timedelta(minutes=i),
            "provider": "acme" if i % 3 == 0 else "openai",
            "model": "acme-llm-9000" if i % 3 == 0 else "gpt-4o-mini",
            "input_tokens": 1000,
            "output_tokens": 100,
            "project": "p",
            "feature": "f",
            "end_user": "u",
            "interactive": True,
        }
        for i in range(30)
    ]
    await load(srv, user.org_id, rows)
    run, _ = await ask(srv, user, QUESTION)
    plan = run["report"]
    priced = Pricer().cost("openai", "gpt-4o-mini", input_tokens=1000, output_tokens=100)
    assert plan["unpriced_requests"] == 10
    assert plan["requests"] == 30
    assert plan["spend_usd"] == pytest.approx(20 * priced, rel=1e-6)
    assert any("10 requests use models the price data does not know" in a
               for a in plan["assumptions"])  # fmt: skip
    assert "10 requests are unpriced" in run["content"]


def _window() -> Window:
    end = datetime(2026, 11, 30, tzinfo=UTC)
    return Window(end - timedelta(days=30), end, "last 30 days", "latest_usage")


def _finding(strategy_id: str, cell, savings: float, affected: float) -> Finding:
    return Finding(
        id=strategy_id, title=strategy_id, confidence="high",
        cells=[CellSaving(cell, affected, savings, 10)], assumptions=[], evidence={},
        actions=[f"do {strategy_id}"], risk="low", effort="low",
    )  # fmt: skip


def test_combine_applies_each_strategy_to_what_the_previous_left():
    cell = ("openai", "gpt-4o", "support", "triage")
    cells = {cell: CellStats(1000, 100.0, 0)}
    findings = [
        _finding("batch_tier", cell, 50.0, 100.0),  # half price on what is left
        _finding("model_right_sizing", cell, 60.0, 100.0),  # 60 % cheaper
        _finding("provider_arbitrage", cell, 30.0, 100.0),  # moot once the model changed
        _finding("error_waste", cell, 10.0, 10.0),  # removes $10 of calls
    ]
    out = {s["id"]: s for s in combine(findings, cells, _window(), 100.0)}
    assert out["error_waste"]["savings_usd"] == pytest.approx(10.0)  # 90 left
    assert out["model_right_sizing"]["savings_usd"] == pytest.approx(54.0)  # 0.6 x 90, 36 left
    assert "provider_arbitrage" not in out  # the cell's traffic moved to the sibling
    assert out["batch_tier"]["savings_usd"] == pytest.approx(18.0)  # 0.5 x 36
    assert out["batch_tier"]["standalone_savings_usd"] == pytest.approx(50.0)
    total = sum(s["savings_usd"] for s in out.values())
    assert total == pytest.approx(82.0)
    assert total < sum(f.savings_usd for f in findings)  # standalone sum would be 150 > spend
    ranked = [s["id"] for s in combine(findings, cells, _window(), 100.0)]
    assert ranked == ["model_right_sizing", "batch_tier", "error_waste"]


def test_combine_drops_findings_below_the_noise_floor():
    a = ("openai", "gpt-4o", "a", "x")
    b = ("openai", "gpt-4o", "b", "y")
    cells = {a: CellStats(10, 50.0, 0), b: CellStats(10, 50.0, 0)}
    findings = [_finding("error_waste", a, 0.05, 0.05), _finding("truncation", b, 5.0, 5.0)]
    out = combine(findings, cells, _window(), 100.0, min_monthly_savings_usd=0.1)
    assert [s["id"] for s in out] == ["truncation"]


def test_every_catalogue_substitution_is_priced_by_the_pricing_module():
    pricer = Pricer()
    catalogue = load_catalogue()
    for s in catalogue.model_right_sizing.substitutions:
        current = pricer.unit_prices(s.provider, s.model)
        sibling = pricer.unit_prices(s.provider, s.sibling)
        assert current is not None, f"{s.provider}/{s.model} is not in the price data"
        assert sibling is not None, f"{s.provider}/{s.sibling} is not in the price data"
        assert sibling.input_mtok < current.input_mtok, s
        assert sibling.output_mtok < current.output_mtok, s


def test_catalogue_file_overrides_defaults_and_bad_values_name_the_key(tmp_path: Path):
    good = tmp_path / "catalogue.toml"
    good.write_text("[model_right_sizing]\nmax_p90_output_tokens = 120\n")
    catalogue = load_catalogue(good)
    assert catalogue.model_right_sizing.max_p90_output_tokens == 120
    assert catalogue.model_right_sizing.substitutions  # kept from the defaults
    bad = tmp_path / "bad.toml"
    bad.write_text("[prompt_caching]\ncache_ttl_s = -5\n")
    with pytest.raises(CatalogueError, match=r"bad\.toml: prompt_caching\.cache_ttl_s"):
        load_catalogue(bad)
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(tmp_path / "missing.toml")


async def test_a_bad_catalogue_file_stops_startup_with_the_file_named(make_settings, tmp_path):
    bad = tmp_path / "cat.toml"
    bad.write_text("[batch_tier]\ntiers = ['overnight']\n")
    resources = await open_resources(make_settings(analyst_catalogue_file=bad))
    try:
        with pytest.raises(StartupError, match=r"cat\.toml: batch_tier\.tiers\.0: Input should"):
            await analyst_lifecycle.start(resources)
    finally:
        await close_resources(resources)


async def test_a_failed_truncated_attempt_is_counted_once(embedded_server):
    """A call that failed *and* stopped at max_tokens, then retried, is error waste; the
    truncation strategy must not count the same dollars again (the removals are disjoint)."""
    srv = embedded_server
    user = await register(srv.url)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rows = []
    for i in range(50):
        t = start + timedelta(minutes=10 * i)
        common = {
            "provider": "openai", "model": "gpt-4.1-mini", "project": "p", "feature": "f",
            "end_user": "u", "interactive": True, "request_fingerprint": f"req-{i}",
            "max_tokens": 256, "input_tokens": 20_000,
        }  # fmt: skip
        rows.append({**common, "request_id": f"fail-{i}", "timestamp": t, "status": "error",
                     "finish_reason": "length", "output_tokens": 256})  # fmt: skip
        rows.append({**common, "request_id": f"ok-{i}", "timestamp": t + timedelta(seconds=5),
                     "finish_reason": "stop", "output_tokens": 200})  # fmt: skip
    await load(srv, user.org_id, rows)
    run, _ = await ask(srv, user, QUESTION)
    plan = run["report"]
    pricer = Pricer()
    failed = 50 * pricer.cost("openai", "gpt-4.1-mini", input_tokens=20_000, output_tokens=256)
    by_id = {s["id"]: s for s in plan["strategies"]}
    assert by_id["error_waste"]["savings_usd"] == pytest.approx(failed, abs=1e-3)
    assert "truncation" not in by_id
    assert plan["savings_usd"] == pytest.approx(failed, abs=1e-3)  # the retries still cost
    assert plan["savings_pct"] < 60


def test_the_registry_combines_removals_then_repricing_then_discounts():
    ranks = [KINDS.index(r.kind) for r in REGISTRY]
    assert ranks == sorted(ranks), [(r.strategy.ID, r.kind) for r in REGISTRY]
    ids = [r.strategy.ID for r in REGISTRY]
    assert len(set(ids)) == len(ids)
    for i, r in enumerate(REGISTRY):
        if r.instead_of is not None:  # an alternative to a strategy applied before it
            assert r.instead_of in ids[:i], r.strategy.ID


def test_every_strategy_has_its_table_in_the_shipped_catalogue():
    catalogue = load_catalogue()
    for strategy in ORDER:
        assert issubclass(strategy.Section, StrategySection), strategy.ID
        section = catalogue.section(strategy.ID, strategy.Section)
        assert section.effort in ("low", "medium", "high")
        assert section.risk in ("low", "medium", "high")


def test_a_catalogue_table_for_no_strategy_is_refused(tmp_path: Path):
    typo = tmp_path / "typo.toml"
    typo.write_text("[prompt_cache]\ncache_ttl_s = 60\n")
    with pytest.raises(CatalogueError, match=r"typo\.toml: prompt_cache: Extra inputs"):
        load_catalogue(typo)


def test_a_section_with_only_defaults_may_be_left_out_of_the_file():
    from pydantic import ValidationError, create_model

    from tokenomist.analyst.catalogue import _field

    class Quiet(StrategySection):
        pass

    class Tuned(StrategySection):
        limit: int

    model = create_model("C", quiet=(Quiet, _field(Quiet)), tuned=(Tuned, _field(Tuned)))
    assert model.model_validate({"tuned": {"limit": 1}}).quiet == Quiet()
    with pytest.raises(ValidationError, match="tuned"):
        model.model_validate({"quiet": {}})


def _group(cell, cost, inp, out, bucket=0, **extra):
    provider, model, project, feature = cell
    return {
        "provider": provider, "model": model, "project": project, "feature": feature,
        "bucket": bucket, "requests": 10, "sum_input_tokens": inp, "sum_output_tokens": out,
        "sum_cached_input_tokens": 0, "sum_cache_write_tokens": 0, "sum_cost_usd": cost,
        **extra,
    }  # fmt: skip


def test_reprice_totals_each_eligible_cell_at_the_alternatives_prices():
    pricer = Pricer()
    mini = pricer.unit_prices("openai", "gpt-4o-mini")
    a = ("openai", "gpt-4o", "a", "x")
    b = ("openai", "gpt-4o", "b", "y")
    groups = [
        _group(a, 5.0, 1_000_000, 100_000, tier="standard"),
        _group(a, 2.5, 500_000, 50_000, tier="standard"),
        _group(b, 9.0, 1_000_000, 0, tier="standard"),  # not eligible
        _group(a, 1.0, 1_000, 1_000, tier="unpriced"),  # its alternative has no price
    ]
    totals = reprice(
        groups,
        PriceBuckets(()),
        key_of=lambda g: a if g["project"] == "a" else None,
        prices_of=lambda g: mini if g["tier"] == "standard" else None,
    )
    assert set(totals) == {a}
    assert totals[a].current == 7.5
    assert totals[a].requests == 20
    expected = pricer.cost("openai", "gpt-4o-mini", input_tokens=1_500_000, output_tokens=150_000)
    assert totals[a].alternative == pytest.approx(expected, rel=1e-9)
    assert totals[a].saving == pytest.approx(7.5 - expected, rel=1e-9)


def test_saving_cells_keep_what_gets_cheaper_largest_first():
    a, b, c = (("p", "m", name, "") for name in "abc")
    totals = {a: Repriced(10.0, 8.0, 3), b: Repriced(10.0, 12.0, 1), c: Repriced(10.0, 1.0, 2)}
    cells = saving_cells([a, b, c], totals, same_cell, lambda key, t: {"alt": t.alternative})
    assert [(x.cell, x.savings_usd, x.affected_spend_usd, x.requests) for x in cells] == [
        (c, 9.0, 10.0, 2),
        (a, 2.0, 10.0, 3),
    ]
    assert cells[0].detail == {"alt": 1.0}
    assert saving_cells([("p", "m", "none", "")], totals, same_cell, lambda k, t: {}) == []
