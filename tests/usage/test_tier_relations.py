"""Tier prices before the price data knew them: a batch call dated before genai-prices lists
the tier's price is priced by the shipped dated relation (OpenAI batch = standard x 0.5 from
2024-04-15), and its price source says so; before the relation's start it is priced at the
standard price, as before; a tier price the data does list is used unchanged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from genai_prices import Usage, calc_price

from tests.support.usage import PASSWORD
from tokenomist.usage import tier_relations
from tokenomist.usage.pricing import PRICE_DATA_VERSION, SERVICE_TIERS, Pricer
from tokenomist.usage.records import price, records_to_parsed
from tokenomist.usage.validation import validate

BEFORE_BATCH_API = datetime(2024, 1, 1, 12, tzinfo=UTC)
IN_THE_GAP = datetime(2025, 3, 1, 12, tzinfo=UTC)  # batch offered, not yet in the data
LISTED = datetime(2026, 11, 1, 12, tzinfo=UTC)  # genai-prices lists gpt-4o batch from 10-14
TOKENS = dict(input_tokens=10_000, cached_input_tokens=2_000, output_tokens=500)


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


def cost(pricer: Pricer, tier: str, when: datetime, provider="openai", model="gpt-4o") -> float:
    got = pricer.cost(provider, model, service_tier=tier, when=when, **TOKENS)
    assert got is not None
    return got


def test_batch_in_the_gap_costs_half_the_standard_row_of_its_date(pricer):
    standard = cost(pricer, "standard", IN_THE_GAP)
    assert cost(pricer, "batch", IN_THE_GAP) == pytest.approx(standard * 0.5, rel=1e-12)
    source = pricer.unit_prices("openai", "gpt-4o", "batch", IN_THE_GAP).source
    assert source == (
        f"{pricer.snapshot} openai/gpt-4o standard × 0.5 (openai batch from 2024-04-15)"  # noqa: RUF001
    )
    assert source.startswith(PRICE_DATA_VERSION)


def test_batch_before_the_batch_api_is_priced_at_standard_and_says_so(pricer):
    # documented behaviour before a relation's start (and for tiers/providers not covered):
    # the standard price of that date, never unpriced
    prices = pricer.unit_prices("openai", "gpt-4o", "batch", BEFORE_BATCH_API)
    assert cost(pricer, "batch", BEFORE_BATCH_API) == cost(pricer, "standard", BEFORE_BATCH_API)
    assert prices.source.endswith("openai/gpt-4o (batch price not listed; standard used)")


def test_a_batch_price_the_data_lists_is_used_unchanged(pricer):
    usage = Usage(input_tokens=10_000, cache_read_tokens=2_000, output_tokens=500)
    listed = calc_price(
        usage, "gpt-4o", provider_id="openai", genai_request_timestamp=LISTED,
        price_context={"processing": "batch"},
    )  # fmt: skip
    assert cost(pricer, "batch", LISTED) == pytest.approx(float(listed.total_price), rel=1e-12)
    assert pricer.unit_prices("openai", "gpt-4o", "batch", LISTED).source.endswith(
        "openai/gpt-4o batch"
    )


@pytest.mark.parametrize(
    ("provider", "model", "before", "after", "label"),
    [
        ("anthropic", "claude-sonnet-4-5", datetime(2024, 10, 7, tzinfo=UTC),
         datetime(2024, 10, 8, tzinfo=UTC), "anthropic batch from 2024-10-08"),
        ("google", "gemini-2.5-flash", datetime(2025, 7, 6, tzinfo=UTC),
         datetime(2025, 7, 7, tzinfo=UTC), "google batch from 2025-07-07"),
    ],
)  # fmt: skip
def test_each_relation_starts_on_its_documented_day(pricer, provider, model, before, after, label):
    assert cost(pricer, "batch", before, provider, model) == cost(
        pricer, "standard", before, provider, model
    )
    half = cost(pricer, "standard", after, provider, model) * 0.5
    assert cost(pricer, "batch", after, provider, model) == pytest.approx(half, rel=1e-12)
    assert pricer.unit_prices(provider, model, "batch", after).source.endswith(f"({label})")


def test_a_tier_the_table_does_not_cover_stays_at_standard(pricer):
    prices = pricer.unit_prices("openai", "gpt-4o", "flex", IN_THE_GAP)
    assert cost(pricer, "flex", IN_THE_GAP) == cost(pricer, "standard", IN_THE_GAP)
    assert prices.source.endswith("(flex price not listed; standard used)")


def test_an_override_still_wins_over_the_relation(tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text(
        '[[price]]\nprovider = "openai"\nmodel = "gpt-4o"\nservice_tier = "batch"\n'
        "input_mtok = 1.0\noutput_mtok = 4.0\n"
    )
    prices = Pricer(path).unit_prices("openai", "gpt-4o", "batch", IN_THE_GAP)
    assert (prices.input_mtok, prices.source) == (1.0, "override prices.toml")


def test_column_wise_pricing_applies_the_relation_per_row_date(pricer):
    records = [
        dict(provider="openai", model="gpt-4o", service_tier="batch", timestamp=ts, **TOKENS)
        for ts in ("2024-01-01T12:00:00Z", "2025-03-01T12:00:00Z", "2026-11-01T12:00:00Z")
    ]
    valid, errors = validate(records_to_parsed(records).table)
    assert errors == []
    priced = price(valid, pricer).to_pylist()
    assert [r["cost_usd"] for r in priced] == pytest.approx(
        [cost(pricer, "batch", when) for when in (BEFORE_BATCH_API, IN_THE_GAP, LISTED)]
    )
    assert "standard × 0.5 (openai batch from 2024-04-15)" in priced[1]["price_source"]  # noqa: RUF001


def test_shipped_table_loads_and_a_bad_one_names_file_and_entry(tmp_path):
    shipped = tier_relations.load(tier_relations.SHIPPED, SERVICE_TIERS[1:])
    table = {(r.provider, r.service_tier, r.factor, r.start.isoformat()) for r in shipped.relations}
    assert table >= {
        ("openai", "batch", 0.5, "2024-04-15"),
        ("anthropic", "batch", 0.5, "2024-10-08"),
    }
    bad = Path(tmp_path / "rel.toml")
    bad.write_text('[[relation]]\nprovider = "openai"\nservice_tier = "batch"\nfactor = 0.5\n'
                   'start = "2024-04-15"\n')  # fmt: skip
    with pytest.raises(ValueError, match=r"rel\.toml: \[\[relation\]\] #1: start must be"):
        tier_relations.load(bad, SERVICE_TIERS[1:])


@pytest.fixture
async def client(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        yield c


async def test_batch_rows_ingested_over_http_are_priced_by_date(server, client, pricer):
    email = f"tier-{uuid.uuid4().hex[:10]}@example.com"
    resp = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    user = {"Authorization": f"Bearer {body['access_token']}"}
    base = dict(provider="openai", model="gpt-4o", input_tokens=10_000,
                cached_input_tokens=2_000, output_tokens=500)  # fmt: skip
    rows = [
        {**base, "request_id": "std-2025", "timestamp": "2025-03-01T12:00:00Z"},
        {**base, "request_id": "batch-2025", "timestamp": "2025-03-01T12:00:00Z",
         "service_tier": "batch"},
        {**base, "request_id": "batch-2024", "timestamp": "2024-01-01T12:00:00Z",
         "service_tier": "batch"},
    ]  # fmt: skip
    resp = await client.post("/api/v1/usage", json=rows, headers=user)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["accepted"], resp.json()["unpriced"]) == (3, 0)
    stored = await server.resources.org_usage(body["user"]["org"]["id"]).query(
        "SELECT request_id, cost_usd, price_source FROM {usage} ORDER BY request_id"
    )
    by_id = {r["request_id"]: r for r in stored}
    assert by_id["batch-2025"]["cost_usd"] == pytest.approx(by_id["std-2025"]["cost_usd"] * 0.5)
    assert by_id["batch-2025"]["price_source"].endswith(
        "openai/gpt-4o standard × 0.5 (openai batch from 2024-04-15)"  # noqa: RUF001
    )
    assert by_id["batch-2024"]["cost_usd"] == pytest.approx(
        cost(pricer, "standard", BEFORE_BATCH_API)
    )
    assert by_id["batch-2024"]["price_source"].endswith("(batch price not listed; standard used)")
