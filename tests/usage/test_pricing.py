"""Pricing against genai-prices computed independently here: cached reads, cache writes, batch
and flex tiers, long-context tiers, unknown models, user overrides, and the column-wise pricer."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from genai_prices import Usage, calc_price

from tokenomist.usage.pricing import PriceOverrideError, Pricer
from tokenomist.usage.records import price, records_to_parsed
from tokenomist.usage.validation import validate

# After 2026-10-14, from which the price data lists gpt-4o's batch price (before it, the shipped
# tier relations price batch instead: see test_tier_relations.py).
WHEN = datetime(2026, 11, 2, 12, tzinfo=UTC)


def reference(provider, model, *, inp, cached=0, write=0, out, context=None, when=WHEN) -> float:
    usage = Usage(
        input_tokens=inp, cache_read_tokens=cached, cache_write_tokens=write, output_tokens=out
    )
    result = calc_price(
        usage, model, provider_id=provider, genai_request_timestamp=when, price_context=context
    )
    return float(result.total_price)


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


@pytest.mark.parametrize(
    ("provider", "model", "tokens", "tier", "context"),
    [
        # cached reads billed at the cache-read price (input_tokens includes them)
        ("openai", "gpt-4o", dict(inp=10_000, cached=8_000, out=500), "standard", None),
        # cache writes at the cache-write price, reads at the read price
        (
            "anthropic", "claude-sonnet-4-5", dict(inp=12_000, cached=6_000, write=4_000, out=900),
            "standard", None,
        ),
        # batch tier
        (
            "openai", "gpt-4o", dict(inp=10_000, cached=2_000, out=500), "batch",
            {"processing": "batch"},
        ),
        (
            "anthropic", "claude-haiku-4-5", dict(inp=3_000, cached=1_000, write=500, out=200),
            "batch", {"processing": "batch"},
        ),
        # flex and priority tiers
        (
            "openai", "gpt-5", dict(inp=5_000, cached=1_000, out=2_000), "flex",
            {"service_tier": "flex"},
        ),
        (
            "openai", "gpt-5", dict(inp=5_000, out=2_000), "priority",
            {"service_tier": "priority"},
        ),
        # long context: every token at the higher price once input passes 200k
        ("google", "gemini-2.5-pro", dict(inp=250_000, cached=50_000, out=3_000), "standard", None),
        ("anthropic", "claude-sonnet-4-5", dict(inp=210_000, out=1_000), "standard", None),
    ],
)  # fmt: skip
def test_cost_matches_genai_prices(pricer, provider, model, tokens, tier, context):
    expected = reference(provider, model, context=context, **tokens)
    got = pricer.cost(
        provider,
        model,
        input_tokens=tokens["inp"],
        cached_input_tokens=tokens.get("cached", 0),
        cache_write_tokens=tokens.get("write", 0),
        output_tokens=tokens["out"],
        service_tier=tier,
        when=WHEN,
    )
    assert got == pytest.approx(expected, rel=1e-12)
    assert expected > 0


def test_cached_tokens_are_cheaper_than_uncached(pricer):
    full = pricer.cost("openai", "gpt-4o", input_tokens=10_000, output_tokens=0)
    cached = pricer.cost(
        "openai", "gpt-4o", input_tokens=10_000, cached_input_tokens=10_000, output_tokens=0
    )
    assert full == pytest.approx(0.025)
    assert cached == pytest.approx(0.0125)  # $1.25/MTok cache reads


def test_batch_tier_halves_gpt_4o(pricer):
    standard = pricer.cost("openai", "gpt-4o", input_tokens=1_000_000, output_tokens=0)
    batch = pricer.cost(
        "openai", "gpt-4o", input_tokens=1_000_000, output_tokens=0, service_tier="batch"
    )
    assert (standard, batch) == (pytest.approx(2.5), pytest.approx(1.25))
    assert "batch" in pricer.unit_prices("openai", "gpt-4o", "batch").source


def test_unknown_model_is_unpriced_never_zero(pricer):
    assert pricer.cost("openai", "gpt-9-ultra", input_tokens=10, output_tokens=1) is None
    assert pricer.cost("no-such-provider", "gpt-4o", input_tokens=10, output_tokens=1) is None
    assert pricer.unit_prices("acme", "brainiac") is None


def test_unlisted_tier_falls_back_to_standard_and_says_so(pricer):
    assert not pricer.supports_tier("openai", "gpt-4o", "flex")
    prices = pricer.unit_prices("openai", "gpt-4o", "flex")
    assert prices.input_mtok == 2.5
    assert "flex price not listed; standard used" in prices.source
    assert pricer.supports_tier("openai", "gpt-4o", "batch")
    assert pricer.supports_tier("openai", "gpt-5", "flex")


def test_price_source_names_data_version_and_model(pricer):
    source = pricer.unit_prices("anthropic", "claude-sonnet-4-5").source
    assert source.startswith("genai-prices ")
    assert source.endswith("anthropic/claude-sonnet-4-5")


def test_offers_lists_cheaper_providers_of_the_same_model(pricer):
    offers = dict(pricer.offers("mixtral-8x7b-instruct"))
    assert offers["mistral"].input_mtok == 0.7
    assert offers["openrouter"].input_mtok < offers["mistral"].input_mtok
    # a provider listing a model without token prices is not an offer
    assert "github-copilot" not in dict(pricer.offers("gpt-4o"))
    assert [p for p, _ in pricer.offers("gpt-4o")] == ["openai"]


def test_overrides_win_and_price_unknown_models(tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text(
        """
[[price]]
provider = "openai"
model = "gpt-4o"
input_mtok = 2.0
output_mtok = 8.0
cached_input_mtok = 0.5
note = "enterprise 2026"

[[price]]
provider = "openai"
model = "gpt-4o"
service_tier = "batch"
input_mtok = 0.9
output_mtok = 3.6

[[price]]
provider = "acme"
model = "brainiac"
input_mtok = 1
output_mtok = 2
"""
    )
    pricer = Pricer(path)
    assert pricer.cost(
        "openai", "gpt-4o", input_tokens=1_000_000, cached_input_tokens=500_000, output_tokens=0
    ) == pytest.approx(1.0 + 0.25)
    assert pricer.cost(
        "openai", "gpt-4o", input_tokens=1_000_000, output_tokens=0, service_tier="batch"
    ) == pytest.approx(0.9)
    assert pricer.cost("acme", "brainiac", input_tokens=1_000_000, output_tokens=1_000_000) == 3.0
    assert pricer.unit_prices("openai", "gpt-4o").source == "override prices.toml (enterprise 2026)"
    assert pricer.supports_tier("acme", "brainiac", "standard")
    # the shipped price still applies to what the file does not name
    assert pricer.unit_prices("openai", "gpt-4o-mini").input_mtok == 0.15


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[[price]]\nprovider='o'\nmodel='x'\noutput_mtok=1\n", "missing field 'input_mtok'"),
        ("[[price]]\nprovider='o'\nmodel='x'\ninput_mtok=-1\noutput_mtok=1\n", "input_mtok must"),
        ("[[price]]\nprovider='o'\nmodel='x'\ninput_mtok=1\noutput_mtok=1\nservice_tier='cheap'\n",
         "service_tier 'cheap'"),
        ("not = [toml", "unreadable"),
    ],
)  # fmt: skip
def test_bad_override_file_names_file_and_problem(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(PriceOverrideError) as info:
        Pricer(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_column_wise_pricing_equals_row_by_row(pricer):
    records = [
        dict(provider="openai", model="gpt-4o", input_tokens=5000, cached_input_tokens=4000,
             output_tokens=10),
        dict(provider="anthropic", model="claude-sonnet-4-5", input_tokens=230_000,
             cached_input_tokens=10_000, cache_write_tokens=5_000, output_tokens=100),
        dict(provider="anthropic", model="claude-sonnet-4-5", input_tokens=2_000, output_tokens=9),
        dict(provider="openai", model="GPT-4o", input_tokens=100, output_tokens=10,
             service_tier="batch"),
        dict(provider="gcp.gemini", model="gemini-2.5-flash", input_tokens=100, output_tokens=10),
        # a model whose price changed during October 2026: priced at its request date
        dict(provider="openrouter", model="meta-llama/llama-3.3-70b-instruct",
             input_tokens=1_000_000, output_tokens=0, timestamp="2026-10-01T00:00:00Z"),
        dict(provider="openrouter", model="meta-llama/llama-3.3-70b-instruct",
             input_tokens=1_000_000, output_tokens=0, timestamp="2026-11-20T00:00:00Z"),
        dict(provider="acme", model="brainiac", input_tokens=10, output_tokens=1),
    ]  # fmt: skip
    for r in records:
        r.setdefault("timestamp", WHEN.isoformat())
    valid, errors = validate(records_to_parsed(records).table)
    assert errors == []
    priced = price(valid, pricer).to_pylist()
    costs = [r["cost_usd"] for r in priced]
    assert costs[0] == pytest.approx(reference("openai", "gpt-4o", inp=5000, cached=4000, out=10))
    assert costs[1] == pytest.approx(
        reference("anthropic", "claude-sonnet-4-5", inp=230_000, cached=10_000, write=5_000,
                  out=100)
    )  # fmt: skip
    assert costs[2] == pytest.approx(reference("anthropic", "claude-sonnet-4-5", inp=2000, out=9))
    assert costs[3] == pytest.approx(
        reference("openai", "gpt-4o", inp=100, out=10, context={"processing": "batch"})
    )
    assert priced[4]["provider"] == "google"
    assert costs[4] == pytest.approx(reference("google", "gemini-2.5-flash", inp=100, out=10))
    october, november = costs[5], costs[6]
    llama = ("openrouter", "meta-llama/llama-3.3-70b-instruct")
    assert october == pytest.approx(
        reference(*llama, inp=1_000_000, out=0, when=datetime(2026, 10, 1, tzinfo=UTC))
    )
    assert november == pytest.approx(
        reference(*llama, inp=1_000_000, out=0, when=datetime(2026, 11, 20, tzinfo=UTC))
    )
    assert october != november
    assert costs[7] is None
    assert priced[7]["price_source"].startswith("unpriced: not in genai-prices")


def test_decimal_prices_survive_as_floats(pricer):
    prices = pricer.unit_prices("openai", "gpt-4o-mini")
    assert prices.input_mtok == float(Decimal("0.15"))
    assert prices.cached_input_mtok == 0.075
    assert isinstance(pa.scalar(prices.output_mtok).as_py(), float)


def test_shipped_example_override_file_loads():
    from pathlib import Path

    import tokenomist.usage as usage_pkg

    example = Path(usage_pkg.__file__).parent / "price_overrides.example.toml"
    pricer = Pricer(example)
    assert pricer.cost("internal", "llama-3.3-70b-finetune", input_tokens=1_000_000,
                       output_tokens=1_000_000) == pytest.approx(0.9)  # fmt: skip
    assert pricer.unit_prices("openai", "gpt-4o", "batch").input_mtok == 1.0
