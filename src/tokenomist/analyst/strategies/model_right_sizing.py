"""``model_right_sizing``: (project, feature) groups on a premium model whose calls are
simple — short outputs, modest inputs, no long reasoning (thresholds in the catalogue) —
where the catalogue names a cheaper sibling of the same provider. Savings = cost on the
current model - cost of the same tokens (same service tier) on the sibling."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tokenomist.analyst.query import list_param, split_list
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
    same_cell,
    saving_cells,
    usd,
)
from tokenomist.usage.pricing import SERVICE_TIERS

ID = "model_right_sizing"
TITLE = "Move simple calls to a cheaper model"
CLASSIFIER_OUTPUT_TOKENS = 50  # p90 outputs this short: labels, ids, yes/no — high confidence
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")


class Substitution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str
    model: str
    sibling: str


class Section(StrategySection):
    max_p90_output_tokens: float = Field(ge=0)
    max_p90_input_tokens: float = Field(ge=0)
    max_reasoning_share: float = Field(ge=0, le=1)
    min_calls: int = Field(ge=1)
    substitutions: list[Substitution]

    def sibling(self, provider: str, model: str) -> str | None:
        """The cheaper sibling the catalogue names for this premium model, if any."""
        base = normalise_model(model)
        for s in self.substitutions:
            if s.provider == provider and s.model in (model, base):
                return s.sibling
        return None


def normalise_model(model: str) -> str:
    """A model id without its trailing release date (gpt-4o-2024-08-06 -> gpt-4o)."""
    return _DATE_SUFFIX.sub("", model.strip().lower())


async def find(env: StrategyEnv) -> Finding | None:
    section = env.catalogue.section(ID, Section)
    siblings = {
        (provider, model): sibling
        for provider, model in env.models
        if (sibling := section.sibling(provider, model))
        and env.pricer.unit_prices(provider, sibling) is not None
    }
    if not siblings:
        return None
    models = list_param(sorted({m for _, m in siblings}))
    simple = await _simple_cells(env, section, siblings, models)
    if not simple:
        return None
    pairs = [(p, m, t) for (p, m) in siblings for t in SERVICE_TIERS]
    buckets = PriceBuckets.for_prices(
        [env.pricer.unit_prices(p, m, t) for p, m, t in pairs]
        + [env.pricer.unit_prices(p, siblings[(p, m)], t) for p, m, t in pairs]
    )
    cond, params = env.where(f"has({split_list('rs_models')}, model) AND cost_usd IS NOT NULL")
    params["rs_models"] = models
    totals = reprice(
        await priced_groups(env, cond, params, buckets),
        buckets,
        key_of=lambda g: cell if (cell := cell_of(g)) in simple else None,
        prices_of=lambda g: env.pricer.unit_prices(
            g["provider"], siblings[(g["provider"], g["model"])], g["service_tier"]
        ),
    )

    def detail(key: CellKey, total: Repriced) -> dict[str, Any]:
        return {
            "sibling_model": siblings[(key[0], key[1])],
            "calls": env.calls(key),
            "cost_on_sibling_usd": round(total.alternative, 6),
            **simple[key],
        }

    cells = saving_cells(simple, totals, same_cell, detail)
    return _finding(section, cells) if cells else None


async def _simple_cells(
    env: StrategyEnv, section: Section, siblings: dict[tuple[str, str], str], models: str
) -> dict[CellKey, dict[str, Any]]:
    """The cells on a model with a sibling whose calls are simple, with their profile."""
    cond, params = env.where(f"has({split_list('rs_models')}, model)")
    params["rs_models"] = models
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
        if (r["provider"], r["model"]) not in siblings:
            continue
        share = r["sum_reasoning"] / r["sum_output"] if r["sum_output"] else 0.0
        if (
            r["calls"] >= section.min_calls
            and r["p90_output"] <= section.max_p90_output_tokens
            and r["p90_input"] <= section.max_p90_input_tokens
            and share <= section.max_reasoning_share
        ):
            simple[cell_of(r)] = {
                "p90_output_tokens": round(float(r["p90_output"])),
                "p90_input_tokens": round(float(r["p90_input"])),
                "reasoning_share": round(share, 4),
            }
    return simple


def _finding(section: Section, cells: list[CellSaving]) -> Finding:
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
