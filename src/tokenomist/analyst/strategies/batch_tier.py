"""``batch_tier``: non-interactive traffic at full price on a model whose provider sells a
batch (or flex) tier. Savings = current cost - the same tokens at the batch-tier price.

Non-interactive means ``interactive=false``, or — when the flag is absent — no end user and
scheduled bursts (catalogue: at least ``burst_min_days`` days, few distinct hours a day, many
calls an hour). Flagged traffic is high confidence; inferred traffic medium."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tokenomist.analyst.strategies.base import (
    CellKey,
    CellSaving,
    Finding,
    PriceBuckets,
    Repriced,
    StrategyEnv,
    StrategySection,
    cell_of,
    describe_cell,
    priced_groups,
    reprice,
    saving_cells,
    usd,
)

ID = "batch_tier"
TITLE = "Run non-interactive work on the batch tier"
CANDIDATES = (
    "service_tier = 'standard' AND cost_usd IS NOT NULL "
    "AND (interactive = false OR (interactive IS NULL AND end_user = ''))"
)

Key = tuple[CellKey, bool]  # a cell's traffic, flagged non-interactive or inferred so


class Section(StrategySection):
    tiers: list[Literal["batch", "flex"]]
    burst_min_days: int = Field(ge=1)
    burst_max_hours_per_day: float = Field(gt=0)
    burst_min_calls_per_hour: float = Field(ge=0)


async def find(env: StrategyEnv) -> Finding | None:
    section = env.catalogue.section(ID, Section)
    tier_of: dict[tuple[str, str], str] = {}
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
    cond, params = env.where(CANDIDATES)
    eligible = await _eligible(env, section, tier_of, cond, params)
    if not eligible:
        return None
    groups = await priced_groups(
        env, cond, params, buckets, "flagged", "interactive IS NOT NULL AS flagged"
    )
    totals = reprice(
        groups,
        buckets,
        key_of=lambda g: key if (key := (cell_of(g), bool(g["flagged"]))) in eligible else None,
        prices_of=lambda g: env.pricer.unit_prices(
            g["provider"], g["model"], tier_of[(g["provider"], g["model"])]
        ),
    )

    def detail(key: Key, total: Repriced) -> dict[str, Any]:
        cell, flagged = key
        return {
            "tier": tier_of[(cell[0], cell[1])],
            "non_interactive_by": "interactive=false" if flagged else "scheduled bursts",
            "calls": env.calls(cell),
            "cost_on_tier_usd": round(total.alternative, 6),
            **eligible[key],
        }

    cells = saving_cells(eligible, totals, lambda key: key[0], detail)
    return _finding(section, cells) if cells else None


async def _eligible(
    env: StrategyEnv,
    section: Section,
    tier_of: dict[tuple[str, str], str],
    cond: str,
    params: dict[str, Any],
) -> dict[Key, dict[str, Any]]:
    """The candidate traffic that is non-interactive: flagged so, or in scheduled bursts."""
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
    eligible: dict[Key, dict[str, Any]] = {}
    for r in profiles:
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
            eligible[(cell_of(r), bool(r["flagged"]))] = {
                "active_days": int(r["days"]),
                "active_hours_per_day": round(hours_per_day, 2),
                "calls_per_active_hour": round(calls_per_hour, 1),
            }
    return eligible


def _finding(section: Section, cells: list[CellSaving]) -> Finding:
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
