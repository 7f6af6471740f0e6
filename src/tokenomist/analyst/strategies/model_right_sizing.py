"""``model_right_sizing``: (project, feature) groups on a premium model whose calls are
simple — short outputs, modest inputs, no long reasoning (thresholds in the catalogue) —
where the catalogue names a cheaper sibling of the same provider. Savings = cost on the
current model - cost of the same tokens (same service tier) on the sibling."""

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
    describe_cell,
    group_cost,
    usd,
)

ID = "model_right_sizing"
TITLE = "Move simple calls to a cheaper model"
CLASSIFIER_OUTPUT_TOKENS = 50  # p90 outputs this short: labels, ids, yes/no — high confidence


async def find(env: StrategyEnv) -> Finding | None:
    section = env.catalogue.model_right_sizing
    siblings = {
        (provider, model): sibling
        for provider, model in env.models
        if (sibling := env.catalogue.sibling(provider, model))
        and env.pricer.unit_prices(provider, sibling) is not None
    }
    if not siblings:
        return None
    models = sorted({m for _, m in siblings})
    cond, params = env.where(f"has({split_list('rs_models')}, model)")
    params["rs_models"] = list_param(models)
    profiles = await env.usage.query(
        f"""
        SELECT provider, model, project, feature, count() AS calls,
               quantileTDigest(0.9)(output_tokens) AS p90_output,
               quantileTDigest(0.9)(input_tokens) AS p90_input,
               sum(reasoning_tokens) AS sum_reasoning, sum(output_tokens) AS sum_output
        FROM {{usage}} WHERE {cond}
        GROUP BY provider, model, project, feature
        """,
        params,
    )
    simple = {}
    for r in profiles:
        key = cell_of(r)
        if (r["provider"], r["model"]) not in siblings:
            continue
        share = r["sum_reasoning"] / r["sum_output"] if r["sum_output"] else 0.0
        if (
            r["calls"] >= section.min_calls
            and r["p90_output"] <= section.max_p90_output_tokens
            and r["p90_input"] <= section.max_p90_input_tokens
            and share <= section.max_reasoning_share
        ):
            simple[key] = {
                "p90_output_tokens": round(float(r["p90_output"])),
                "p90_input_tokens": round(float(r["p90_input"])),
                "reasoning_share": round(share, 4),
            }
    if not simple:
        return None

    tiers = {(p, m, t) for (p, m) in siblings for t in ("standard", "batch", "flex", "priority")}
    buckets = PriceBuckets.for_prices(
        [env.pricer.unit_prices(p, m, t) for p, m, t in tiers]
        + [env.pricer.unit_prices(p, siblings[(p, m)], t) for p, m, t in tiers]
    )
    bucket_sql, bucket_params = buckets.sql()
    cond, params = env.where(f"has({split_list('rs_models')}, model) AND cost_usd IS NOT NULL")
    params.update(rs_models=list_param(models), **bucket_params)
    groups = await env.usage.query(
        f"""
        SELECT provider, model, project, feature, service_tier, {bucket_sql} AS bucket,
               {SUMS_SQL}, sum(cost_usd) AS sum_cost_usd
        FROM {{usage}} WHERE {cond}
        GROUP BY provider, model, project, feature, service_tier, bucket
        """,
        params,
    )
    current: dict = defaultdict(float)
    alternative: dict = defaultdict(float)
    requests: dict = defaultdict(int)
    for g in groups:
        key = cell_of(g)
        if key not in simple:
            continue
        sibling_prices = env.pricer.unit_prices(
            g["provider"], siblings[(g["provider"], g["model"])], g["service_tier"]
        )
        if sibling_prices is None:
            continue
        tokens = Tokens.from_row(g)
        current[key] += float(g["sum_cost_usd"])
        alternative[key] += group_cost(
            sibling_prices, tokens, buckets.representative_input(int(g["bucket"]))
        )
        requests[key] += tokens.requests

    cells = []
    for key, profile in simple.items():
        saving = current[key] - alternative[key]
        if saving <= 0:
            continue
        sibling = siblings[(key[0], key[1])]
        cells.append(
            CellSaving(
                cell=key,
                affected_spend_usd=current[key],
                savings_usd=saving,
                requests=requests[key],
                detail={
                    "sibling_model": sibling,
                    "calls": env.calls(key),
                    "cost_on_sibling_usd": round(alternative[key], 6),
                    **profile,
                },
            )
        )
    if not cells:
        return None
    cells.sort(key=lambda c: c.savings_usd, reverse=True)
    classifier_like = all(c.detail["p90_output_tokens"] <= CLASSIFIER_OUTPUT_TOKENS for c in cells)
    return Finding(
        id=ID,
        title=TITLE,
        confidence="high" if classifier_like else "medium",
        cells=cells,
        assumptions=[
            f"Calls are simple when, per (project, feature): p90 output ≤ "
            f"{section.max_p90_output_tokens:g} tokens, p90 input ≤ "
            f"{section.max_p90_input_tokens:g} tokens, reasoning ≤ "
            f"{section.max_reasoning_share:.0%} of output, at least {section.min_calls} calls.",
            "The sibling handles these calls with the same tokens in and out; confirm quality "
            "on the feature's evaluation set before switching.",
        ],
        evidence={
            "cells": len(cells),
            "substitutions": sorted({f"{c.cell[1]} → {c.detail['sibling_model']}" for c in cells}),
        },
        actions=[
            f"Route {describe_cell(c.cell)} to {c.detail['sibling_model']}: "
            f"{c.detail['calls']:,} calls with p90 output {c.detail['p90_output_tokens']} tokens "
            f"and p90 input {c.detail['p90_input_tokens']} tokens would cost "
            f"{usd(c.detail['cost_on_sibling_usd'])} instead of {usd(c.affected_spend_usd)}."
            for c in cells[:3]
        ],
        risk=section.risk,
        effort=section.effort,
    )
