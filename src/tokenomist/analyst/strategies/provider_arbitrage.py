"""``provider_arbitrage``: a model offered cheaper by another provider in the price data.
Savings = the current cost - the same tokens at the cheapest other provider of that model
(one provider per model, so the recommendation is a single switch)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import Field

from tokenomist.analyst.query import list_param, split_list
from tokenomist.analyst.strategies.base import (
    CellKey,
    CellSaving,
    Finding,
    PriceBuckets,
    Repriced,
    StrategyEnv,
    StrategySection,
    Tokens,
    cell_of,
    group_cost,
    priced_groups,
    reprice,
    same_cell,
    saving_cells,
    usd,
)
from tokenomist.usage.pricing import SERVICE_TIERS

ID = "provider_arbitrage"
TITLE = "Buy the same model from a cheaper provider"

Pair = tuple[str, str]  # provider, model


class Section(StrategySection):
    min_savings_pct: float = Field(ge=0, le=100)
    exclude_providers: list[str] = []


async def find(env: StrategyEnv) -> Finding | None:
    section = env.catalogue.section(ID, Section)
    excluded = set(section.exclude_providers)
    offers: dict[Pair, list[str]] = {}
    for provider, model in env.models:
        others = [p for p, _ in env.pricer.offers(model) if p != provider and p not in excluded]
        if others and env.pricer.unit_prices(provider, model) is not None:
            offers[(provider, model)] = others
    if not offers:
        return None
    buckets = PriceBuckets.for_prices(
        [env.pricer.unit_prices(p, m, t) for (p, m) in offers for t in SERVICE_TIERS]
        + [
            env.pricer.unit_prices(a, m, t)
            for (_, m), alts in offers.items()
            for a in alts
            for t in SERVICE_TIERS
        ]
    )
    cond, params = env.where(f"has({split_list('pa_models')}, model) AND cost_usd IS NOT NULL")
    params["pa_models"] = list_param(sorted({m for _, m in offers}))
    groups = [
        g
        for g in await priced_groups(env, cond, params, buckets)
        if (g["provider"], g["model"]) in offers
    ]
    chosen = _cheapest(env, section, offers, groups, buckets)
    totals = reprice(
        groups,
        buckets,
        key_of=lambda g: cell_of(g) if (g["provider"], g["model"]) in chosen else None,
        prices_of=lambda g: env.pricer.unit_prices(
            chosen[(g["provider"], g["model"])][0], g["model"], g["service_tier"]
        ),
    )

    def detail(key: CellKey, total: Repriced) -> dict[str, Any]:
        alts = chosen[(key[0], key[1])]
        return {
            "cheaper_provider": alts[0],
            "equally_cheap_providers": alts[1:],
            "calls": env.calls(key),
            "cost_at_cheaper_provider_usd": round(total.alternative, 6),
        }

    cells = saving_cells(totals, totals, same_cell, detail)
    return _finding(section, cells) if cells else None


def _cheapest(
    env: StrategyEnv,
    section: Section,
    offers: dict[Pair, list[str]],
    groups: list[dict[str, Any]],
    buckets: PriceBuckets,
) -> dict[Pair, list[str]]:
    """Per model worth switching, the providers that sell all its traffic cheapest (one
    provider for the whole model, so the recommendation is a single switch)."""
    by_alt: dict[Pair, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    current: dict[Pair, float] = defaultdict(float)
    for g in groups:
        pair = (g["provider"], g["model"])
        current[pair] += float(g["sum_cost_usd"])
        for alt in offers[pair]:
            prices = env.pricer.unit_prices(alt, g["model"], g["service_tier"])
            if prices is None:
                by_alt[pair][alt] = float("inf")
                continue
            by_alt[pair][alt] += group_cost(
                prices, Tokens.from_row(g), buckets.representative_input(int(g["bucket"]))
            )
    chosen: dict[Pair, list[str]] = {}
    for pair, costs in by_alt.items():
        best = min(costs.values())
        if current[pair] <= 0 or best == float("inf"):
            continue
        pct = (current[pair] - best) / current[pair] * 100
        if pct >= section.min_savings_pct:
            chosen[pair] = sorted(alt for alt, c in costs.items() if c == best)
    return chosen


def _finding(section: Section, cells: list[CellSaving]) -> Finding:
    return Finding(
        id=ID,
        title=TITLE,
        confidence="medium",
        cells=cells,
        assumptions=[
            "The other provider serves the same model id at its list price in the price data; "
            "latency, rate limits and data-handling terms differ and must be checked.",
            f"Price differences under {section.min_savings_pct:g}% are ignored.",
        ],
        evidence={
            "switches": sorted(
                {f"{c.cell[0]} → {c.detail['cheaper_provider']} ({c.cell[1]})" for c in cells}
            ),
        },
        actions=[
            f"Buy {c.cell[1]} from {c.detail['cheaper_provider']} instead of {c.cell[0]} for "
            f"{'/'.join(x for x in c.cell[2:] if x) or 'its traffic'}: "
            f"{usd(c.detail['cost_at_cheaper_provider_usd'])} instead of "
            f"{usd(c.affected_spend_usd)} for the same tokens."
            for c in cells[:3]
        ],
        risk=section.risk,
        effort=section.effort,
    )
