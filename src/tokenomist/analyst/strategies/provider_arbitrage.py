"""``provider_arbitrage``: a model offered cheaper by another provider in the price data.
Savings = the current cost - the same tokens at the cheapest other provider of that model
(one provider per model, so the recommendation is a single switch)."""

from __future__ import annotations

from collections import defaultdict

from tokenomist.analyst.query import list_param, split_list
from tokenomist.analyst.strategies.base import (
    SUMS_SQL,
    CellSaving,
    Finding,
    PriceBuckets,
    StrategyEnv,
    Tokens,
    cell_of,
    group_cost,
    usd,
)

ID = "provider_arbitrage"
TITLE = "Buy the same model from a cheaper provider"


async def find(env: StrategyEnv) -> Finding | None:
    section = env.catalogue.provider_arbitrage
    excluded = set(section.exclude_providers)
    offers: dict[tuple[str, str], list[str]] = {}
    for provider, model in env.models:
        others = [p for p, _ in env.pricer.offers(model) if p != provider and p not in excluded]
        if others and env.pricer.unit_prices(provider, model) is not None:
            offers[(provider, model)] = others
    if not offers:
        return None
    tiers = ("standard", "batch", "flex", "priority")
    buckets = PriceBuckets.for_prices(
        [env.pricer.unit_prices(p, m, t) for (p, m), alts in offers.items() for t in tiers]
        + [
            env.pricer.unit_prices(a, m, t)
            for (_, m), alts in offers.items()
            for a in alts
            for t in tiers
        ]
    )
    bucket_sql, bucket_params = buckets.sql()
    cond, params = env.where(f"has({split_list('pa_models')}, model) AND cost_usd IS NOT NULL")
    params.update(pa_models=list_param(sorted({m for _, m in offers})), **bucket_params)
    groups = [
        g
        for g in await env.usage.query(
            f"""
            SELECT provider, model, project, feature, service_tier, {bucket_sql} AS bucket,
                   {SUMS_SQL}, sum(cost_usd) AS sum_cost_usd
            FROM {{usage}} WHERE {cond}
            GROUP BY provider, model, project, feature, service_tier, bucket
            """,
            params,
        )
        if (g["provider"], g["model"]) in offers
    ]
    # Cost of each model's traffic at each alternative provider; pick the cheapest overall.
    by_alt: dict = defaultdict(lambda: defaultdict(float))
    current: dict = defaultdict(float)
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
    chosen: dict = {}
    for pair, costs in by_alt.items():
        best = min(costs.values())
        if current[pair] <= 0 or best == float("inf"):
            continue
        pct = (current[pair] - best) / current[pair] * 100
        if pct >= section.min_savings_pct:
            chosen[pair] = sorted(alt for alt, c in costs.items() if c == best)

    per_cell: dict = defaultdict(lambda: {"current": 0.0, "alternative": 0.0, "requests": 0})
    for g in groups:
        pair = (g["provider"], g["model"])
        if pair not in chosen:
            continue
        prices = env.pricer.unit_prices(chosen[pair][0], g["model"], g["service_tier"])
        assert prices is not None  # checked when the alternative was chosen
        cell = per_cell[cell_of(g)]
        tokens = Tokens.from_row(g)
        cell["current"] += float(g["sum_cost_usd"])
        cell["alternative"] += group_cost(
            prices, tokens, buckets.representative_input(int(g["bucket"]))
        )
        cell["requests"] += tokens.requests
    cells = []
    for key, c in per_cell.items():
        saving = c["current"] - c["alternative"]
        if saving <= 0:
            continue
        alts = chosen[(key[0], key[1])]
        cells.append(
            CellSaving(
                cell=key,
                affected_spend_usd=c["current"],
                savings_usd=saving,
                requests=int(c["requests"]),
                detail={
                    "cheaper_provider": alts[0],
                    "equally_cheap_providers": alts[1:],
                    "calls": env.calls(key),
                    "cost_at_cheaper_provider_usd": round(c["alternative"], 6),
                },
            )
        )
    if not cells:
        return None
    cells.sort(key=lambda c: c.savings_usd, reverse=True)
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
