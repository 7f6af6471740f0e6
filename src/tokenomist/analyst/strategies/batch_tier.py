"""``batch_tier``: non-interactive traffic at full price on a model whose provider sells a
batch (or flex) tier. Savings = current cost - the same tokens at the batch-tier price.

Non-interactive means ``interactive=false``, or — when the flag is absent — no end user and
scheduled bursts (catalogue: at least ``burst_min_days`` days, few distinct hours a day, many
calls an hour). Flagged traffic is high confidence; inferred traffic medium."""

from __future__ import annotations

from collections import defaultdict

from tokenomist.analyst.strategies.base import (
    SUMS_SQL,
    CellSaving,
    Finding,
    PriceBuckets,
    StrategyEnv,
    Tokens,
    cell_of,
    describe_cell,
    usd,
)
from tokenomist.analyst.strategies.base import group_cost as _cost

ID = "batch_tier"
TITLE = "Run non-interactive work on the batch tier"
CANDIDATES = (
    "service_tier = 'standard' AND cost_usd IS NOT NULL "
    "AND (interactive = false OR (interactive IS NULL AND end_user = ''))"
)


async def find(env: StrategyEnv) -> Finding | None:
    section = env.catalogue.batch_tier
    tier_of = {}
    for provider, model in env.models:
        offered = (t for t in section.tiers if env.pricer.supports_tier(provider, model, t))
        tier = next(offered, None)
        if tier is not None:
            tier_of[(provider, model)] = tier
    if not tier_of:
        return None
    buckets = PriceBuckets.for_prices(
        [env.pricer.unit_prices(p, m, t) for (p, m), t in tier_of.items()]
        + [env.pricer.unit_prices(p, m) for (p, m) in tier_of]
    )
    bucket_sql, bucket_params = buckets.sql()
    cond, params = env.where(CANDIDATES)
    profiles = await env.usage.query(
        f"""
        SELECT provider, model, project, feature, interactive IS NOT NULL AS flagged,
               count() AS calls,
               uniqExact(toDate(timestamp)) AS days,
               uniqExact(toStartOfHour(timestamp)) AS hours
        FROM {{usage}} WHERE {cond}
        GROUP BY provider, model, project, feature, flagged
        """,
        params,
    )
    eligible: dict = {}
    for r in profiles:
        key = cell_of(r)
        if (r["provider"], r["model"]) not in tier_of:
            continue
        hours_per_day = r["hours"] / r["days"]
        calls_per_hour = r["calls"] / r["hours"]
        bursty = (
            r["days"] >= section.burst_min_days
            and hours_per_day <= section.burst_max_hours_per_day
            and calls_per_hour >= section.burst_min_calls_per_hour
        )
        if r["flagged"] or bursty:
            eligible[(key, bool(r["flagged"]))] = {
                "active_days": int(r["days"]),
                "active_hours_per_day": round(hours_per_day, 2),
                "calls_per_active_hour": round(calls_per_hour, 1),
            }
    if not eligible:
        return None

    params.update(bucket_params)
    groups = await env.usage.query(
        f"""
        SELECT provider, model, project, feature, interactive IS NOT NULL AS flagged,
               {bucket_sql} AS bucket, {SUMS_SQL}, sum(cost_usd) AS sum_cost_usd
        FROM {{usage}} WHERE {cond}
        GROUP BY provider, model, project, feature, flagged, bucket
        """,
        params,
    )
    current: dict = defaultdict(float)
    alternative: dict = defaultdict(float)
    requests: dict = defaultdict(int)
    for g in groups:
        key, flagged = cell_of(g), bool(g["flagged"])
        if (key, flagged) not in eligible:
            continue
        tier = tier_of[(g["provider"], g["model"])]
        prices = env.pricer.unit_prices(g["provider"], g["model"], tier)
        if prices is None:
            continue
        tokens = Tokens.from_row(g)
        current[(key, flagged)] += float(g["sum_cost_usd"])
        alternative[(key, flagged)] += _cost(
            prices, tokens, buckets.representative_input(int(g["bucket"]))
        )
        requests[(key, flagged)] += tokens.requests

    cells = []
    for (key, flagged), profile in eligible.items():
        saving = current[(key, flagged)] - alternative[(key, flagged)]
        if saving <= 0:
            continue
        cells.append(
            CellSaving(
                cell=key,
                affected_spend_usd=current[(key, flagged)],
                savings_usd=saving,
                requests=requests[(key, flagged)],
                detail={
                    "tier": tier_of[(key[0], key[1])],
                    "non_interactive_by": "interactive=false" if flagged else "scheduled bursts",
                    "calls": env.calls(key),
                    "cost_on_tier_usd": round(alternative[(key, flagged)], 6),
                    **profile,
                },
            )
        )
    if not cells:
        return None
    cells.sort(key=lambda c: c.savings_usd, reverse=True)
    inferred = [c for c in cells if c.detail["non_interactive_by"] != "interactive=false"]
    assumptions = [
        "Results of this traffic can wait for the provider's batch window (up to 24 h).",
    ]
    if inferred:
        assumptions.append(
            "Traffic without an interactive flag, without an end user and in scheduled "
            f"bursts (≥ {section.burst_min_days} days, ≤ {section.burst_max_hours_per_day:g} "
            f"hours a day, ≥ {section.burst_min_calls_per_hour:g} calls an hour) is taken "
            "as non-interactive."
        )
    return Finding(
        id=ID,
        title=TITLE,
        confidence="medium" if inferred else "high",
        cells=cells,
        assumptions=assumptions,
        evidence={"tiers": sorted({c.detail["tier"] for c in cells}), "cells": len(cells)},
        actions=[
            f"Submit {describe_cell(c.cell)} through the {c.detail['tier']} tier "
            f"({c.detail['non_interactive_by']}, {c.requests:,} calls): "
            f"{usd(c.detail['cost_on_tier_usd'])} instead of {usd(c.affected_spend_usd)}."
            for c in cells[:3]
        ],
        risk=section.risk,
        effort=section.effort,
    )
