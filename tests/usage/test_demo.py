"""The demo workload: deterministic, realistic, and each plant's savings recomputed here from
the records alone (genai-prices called directly), so the documented numbers are checked."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from genai_prices import Usage, calc_price

from tokenomist.usage.demo import CACHE_LIFETIME_S, STRATEGY_IDS, generate
from tokenomist.usage.pricing import Pricer

END = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture(scope="module")
def planted():
    return generate(seed=7, end=END)


@pytest.fixture(scope="module")
def clean():
    return generate(seed=7, end=END, planted=False)


def ts(r: dict) -> datetime:
    return datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))


def gp_cost(r: dict, *, model: str | None = None, provider: str | None = None,
            context=None) -> float:  # fmt: skip
    usage = Usage(
        input_tokens=r["input_tokens"],
        cache_read_tokens=r["cached_input_tokens"],
        cache_write_tokens=r["cache_write_tokens"],
        output_tokens=r["output_tokens"],
    )
    return float(
        calc_price(
            usage, model or r["model"], provider_id=provider or r["provider"],
            genai_request_timestamp=ts(r), price_context=context,
        ).total_price
    )  # fmt: skip


def scoped(workload, strategy: str) -> list[dict]:
    scope = workload.planted[strategy].scope
    return [
        r
        for r in workload.records
        if (r["project"], r["feature"]) == (scope["project"], scope["feature"])
    ]


def test_same_seed_same_workload_other_seed_differs(planted):
    again = generate(seed=7, end=END)
    assert again.records == planted.records
    other = generate(seed=8, end=END)
    assert other.records != planted.records


def test_realistic_shape(planted):
    records = planted.records
    assert len(records) > 20_000
    assert {r["provider"] for r in records} >= {"openai", "anthropic", "google", "mistral"}
    assert len({r["model"] for r in records}) >= 7
    assert len({r["project"] for r in records}) >= 6
    assert len({r["end_user"] for r in records if r["end_user"]}) >= 100
    days = {r["timestamp"][:10] for r in records}
    assert len(days) == 30
    assert all(planted.start <= ts(r) < planted.end for r in records)
    interactive = [r for r in records if r["interactive"]]
    by_hour = Counter(ts(r).hour for r in interactive)
    assert by_hour[14] > 3 * by_hour[3]  # diurnal: afternoon peak, night trough
    assert len({r["request_id"] for r in records}) == len(records)


def test_one_plant_per_strategy_each_in_its_own_feature(planted):
    assert set(planted.planted) == set(STRATEGY_IDS)
    scopes = {(p.scope["project"], p.scope["feature"]) for p in planted.planted.values()}
    assert len(scopes) == len(STRATEGY_IDS)
    for plant in planted.planted.values():
        assert plant.savings_usd > 0
        assert plant.savings_usd < plant.affected_spend_usd
        assert plant.description
        assert len(scoped(planted, plant.strategy_id)) == plant.requests


def test_right_sizing_savings(planted):
    rows = scoped(planted, "model_right_sizing")
    assert {r["model"] for r in rows} == {"gpt-4o"}
    assert max(r["output_tokens"] for r in rows) <= 25
    expected = sum(gp_cost(r) - gp_cost(r, model="gpt-4o-mini") for r in rows)
    assert planted.planted["model_right_sizing"].savings_usd == pytest.approx(expected)


def test_prompt_caching_savings_honour_cache_lifetime(planted):
    rows = sorted(scoped(planted, "prompt_caching"), key=ts)
    assert all(r["cached_input_tokens"] == 0 and r["cache_write_tokens"] == 0 for r in rows)
    assert {r["prefix_tokens"] for r in rows} == {4000}
    assert len({r["prefix_fingerprint"] for r in rows}) == 1
    expected, last = 0.0, None
    for r in rows:
        prefix = dict(r, input_tokens=4000, output_tokens=0)
        plain = gp_cost(prefix)
        if last is not None and (ts(r) - last).total_seconds() <= CACHE_LIFETIME_S:
            expected += plain - gp_cost(dict(prefix, cached_input_tokens=4000))
        else:
            expected -= gp_cost(dict(prefix, cache_write_tokens=4000)) - plain
        last = ts(r)
    assert planted.planted["prompt_caching"].savings_usd == pytest.approx(expected)


def test_batch_tier_savings(planted):
    rows = scoped(planted, "batch_tier")
    assert all(r["interactive"] is False and r["end_user"] == "" for r in rows)
    assert {ts(r).hour for r in rows} == {2}
    expected = sum(gp_cost(r) - gp_cost(r, context={"processing": "batch"}) for r in rows)
    assert planted.planted["batch_tier"].savings_usd == pytest.approx(expected)


def test_duplicate_savings_are_the_repeats(planted):
    rows = sorted(scoped(planted, "duplicate_requests"), key=ts)
    seen: dict[str, datetime] = {}
    expected = 0.0
    for r in rows:
        fp = r["request_fingerprint"]
        if fp in seen and ts(r) - seen[fp] <= timedelta(hours=24):
            expected += gp_cost(r)
        else:
            seen[fp] = ts(r)
    assert planted.planted["duplicate_requests"].savings_usd == pytest.approx(expected)


def test_error_and_truncation_savings(planted):
    errors = [r for r in scoped(planted, "error_waste") if r["status"] == "error"]
    assert errors and all(r["input_tokens"] > 0 for r in errors)
    assert planted.planted["error_waste"].savings_usd == pytest.approx(
        sum(gp_cost(r) for r in errors)
    )
    rows = scoped(planted, "truncation")
    truncated = [r for r in rows if r["finish_reason"] == "length"]
    retried = {r["request_fingerprint"] for r in rows if r["max_tokens"] == 1024}
    assert truncated and {r["request_fingerprint"] for r in truncated} == retried
    assert planted.planted["truncation"].savings_usd == pytest.approx(
        sum(gp_cost(r) for r in truncated)
    )


def test_provider_arbitrage_savings(planted):
    rows = scoped(planted, "provider_arbitrage")
    assert {(r["provider"], r["model"]) for r in rows} == {("mistral", "mixtral-8x7b-instruct")}
    expected = sum(gp_cost(r) - gp_cost(r, provider="openrouter") for r in rows)
    assert planted.planted["provider_arbitrage"].savings_usd == pytest.approx(expected)


def test_clean_workload_gives_no_strategy_anything(clean):
    records = clean.records
    pricer = Pricer()
    assert clean.planted == {}
    assert all(r["status"] == "success" for r in records)
    assert all(r["finish_reason"] == "stop" for r in records)
    assert all(r["interactive"] is True and r["end_user"] for r in records)
    assert len({r["request_fingerprint"] for r in records}) == len(records)
    assert all(r["service_tier"] == "standard" for r in records)
    # no model is sold cheaper by another provider
    for provider, model in {(r["provider"], r["model"]) for r in records}:
        own = pricer.unit_prices(provider, model)
        for other, prices in pricer.offers(model):
            assert (prices.input_mtok, prices.output_mtok) >= (
                own.input_mtok, own.output_mtok,
            ), (provider, model, other)  # fmt: skip
    # caching is already used exactly as far as a 5-minute lifetime allows
    by_prefix = defaultdict(list)
    for r in records:
        if r["prefix_tokens"] >= 1024:
            by_prefix[r["prefix_fingerprint"]].append(r)
    assert by_prefix
    for rows in by_prefix.values():
        rows.sort(key=ts)
        for prev, cur in itertools.pairwise(rows):
            warm = (ts(cur) - ts(prev)).total_seconds() <= CACHE_LIFETIME_S
            assert cur["cached_input_tokens"] == (cur["prefix_tokens"] if warm else 0)
    # the premium model runs only long, complex calls
    assert min(r["output_tokens"] for r in records if r["model"] == "gpt-4o") >= 1500


def test_plants_are_absent_from_the_clean_workload(clean, planted):
    clean_ids = {r["request_id"] for r in clean.records}
    planted_ids = {r["request_id"] for r in planted.records}
    assert clean_ids < planted_ids
    assert len(planted_ids - clean_ids) == sum(p.requests for p in planted.planted.values())
