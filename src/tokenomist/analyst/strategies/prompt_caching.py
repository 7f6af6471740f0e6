"""``prompt_caching``: calls sharing a stable prefix (``prefix_fingerprint``) of at least the
provider's minimum cacheable length, that do not already read it from the cache.

Savings follow the cache lifetime: for calls of one prefix in time order, a call within the
lifetime of the previous one would read the prefix from the cache, saving
``uncached prefix tokens * (input - cache-read price)``; every other call writes the prefix
and pays ``prefix tokens * (cache-write - input price)`` extra (zero where the provider does
not charge for writes). Calls that already read or write the cache save nothing more."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tokenomist.analyst.query import list_param, split_list
from tokenomist.analyst.strategies.base import (
    CellKey,
    CellSaving,
    Finding,
    PriceBuckets,
    StrategyEnv,
    StrategySection,
    cell_of,
    describe_cell,
    usd,
)
from tokenomist.usage.pricing import SERVICE_TIERS

ID = "prompt_caching"
TITLE = "Cache the repeated prompt prefix"
_COUNTS = ("calls", "hits", "hit_tokens", "write_tokens", "cached_tokens", "prefixes")


class CacheProvider(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_prefix_tokens: int | None = Field(default=None, ge=1)
    cache_ttl_s: float | None = Field(default=None, gt=0)


class Section(StrategySection):
    min_prefix_tokens: int = Field(ge=1)
    cache_ttl_s: float = Field(gt=0)
    providers: dict[str, CacheProvider] = {}

    def min_prefix_for(self, provider: str) -> int:
        p = self.providers.get(provider)
        return p.min_prefix_tokens if p and p.min_prefix_tokens else self.min_prefix_tokens

    def ttl_for(self, provider: str) -> float:
        p = self.providers.get(provider)
        return p.cache_ttl_s if p and p.cache_ttl_s else self.cache_ttl_s


def _per_provider(env: StrategyEnv) -> tuple[str, str, dict]:
    """SQL for each row's minimum prefix length and cache lifetime (ms), by provider."""
    section = env.catalogue.section(ID, Section)
    providers = sorted({p for p, _ in env.models})
    params = {
        "pc_providers": list_param(providers),
        "pc_min": list_param(str(section.min_prefix_for(p)) for p in providers),
        "pc_ttl": list_param(str(int(section.ttl_for(p) * 1000)) for p in providers),
    }
    nums = "arrayMap(x -> toUInt64(x), {})"
    min_sql = (
        f"transform(provider, {split_list('pc_providers')}, "
        f"{nums.format(split_list('pc_min'))}, toUInt64(0))"
    )
    ttl_sql = (
        f"transform(provider, {split_list('pc_providers')}, "
        f"{nums.format(split_list('pc_ttl'))}, toUInt64(0))"
    )
    return min_sql, ttl_sql, params


async def find(env: StrategyEnv) -> Finding | None:
    section = env.catalogue.section(ID, Section)
    if not env.models:
        return None
    buckets = PriceBuckets.for_prices(
        env.pricer.unit_prices(p, m, t) for p, m in env.models for t in SERVICE_TIERS
    )
    savings, stats = _totals(env, await _prefix_groups(env, buckets), buckets)
    cells = []
    for key, saving in savings.items():
        if saving > 0:
            cells.append(_cell(key, saving, stats[key], section))
    if not cells:
        return None
    cells.sort(key=lambda c: c.savings_usd, reverse=True)
    return _finding(section, cells)


async def _prefix_groups(env: StrategyEnv, buckets: PriceBuckets) -> list[dict[str, Any]]:
    """Calls with a cacheable prefix per cell, tier and price bucket: how many would read the
    prefix from the cache (a call of the same prefix within the lifetime before) and how many
    tokens they would read or write."""
    bucket_sql, bucket_params = buckets.sql()
    min_sql, ttl_sql, pp_params = _per_provider(env)
    cond, params = env.where(
        f"prefix_fingerprint != '' AND status = 'success' AND cost_usd IS NOT NULL "
        f"AND prefix_tokens >= {min_sql}"
    )
    params.update(bucket_params, **pp_params)
    return await env.usage.query(
        f"""
        SELECT provider, model, project, feature, service_tier, bucket,
               count() AS calls,
               countIf(hit) AS hits,
               sumIf(greatest(toInt64(prefix_tokens) - toInt64(cached_input_tokens), 0), hit)
                   AS hit_tokens,
               sumIf(prefix_tokens, NOT hit AND cache_write_tokens = 0) AS write_tokens,
               sum(cached_input_tokens) AS cached_tokens,
               uniqExact(prefix_fingerprint) AS prefixes,
               max(prefix_tokens) AS max_prefix_tokens,
               sum(cost_usd) AS sum_cost_usd
        FROM (
            SELECT provider, model, project, feature, service_tier, prefix_fingerprint,
                   prefix_tokens, cached_input_tokens, cache_write_tokens, cost_usd,
                   {bucket_sql} AS bucket,
                   (prev_ts IS NOT NULL
                       AND dateDiff('millisecond', prev_ts, timestamp) <= ttl_ms) AS hit
            FROM (
                SELECT provider, model, project, feature, service_tier, prefix_fingerprint,
                       prefix_tokens, input_tokens, cached_input_tokens, cache_write_tokens,
                       cost_usd, timestamp, {ttl_sql} AS ttl_ms,
                       lagInFrame(toNullable(timestamp)) OVER (
                           PARTITION BY provider, model, prefix_fingerprint
                           ORDER BY timestamp ASC
                           ROWS BETWEEN 1 PRECEDING AND CURRENT ROW
                       ) AS prev_ts
                FROM {{usage}}
                WHERE {cond}
            )
        )
        GROUP BY provider, model, project, feature, service_tier, bucket
        """,
        params,
    )


def _totals(
    env: StrategyEnv, groups: list[dict[str, Any]], buckets: PriceBuckets
) -> tuple[dict[CellKey, float], dict[CellKey, dict[str, float]]]:
    """Per cell: the net saving (cache reads minus cache-write premiums) and its figures."""
    savings: dict[CellKey, float] = defaultdict(float)
    stats: dict[CellKey, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for g in groups:
        prices = env.pricer.unit_prices(g["provider"], g["model"], g["service_tier"])
        if prices is None:
            continue
        p = prices.for_input(buckets.representative_input(int(g["bucket"])))
        read_saving = g["hit_tokens"] * (p.input_mtok - p.cached_input_mtok) / 1e6
        write_premium = g["write_tokens"] * max(p.cache_write_mtok - p.input_mtok, 0.0) / 1e6
        key = cell_of(g)
        savings[key] += read_saving - write_premium
        s = stats[key]
        for name in _COUNTS:
            s[name] += g[name]
        s["cost_usd"] += float(g["sum_cost_usd"])
        s["max_prefix_tokens"] = max(s["max_prefix_tokens"], g["max_prefix_tokens"])
        s["read_saving_usd"] += read_saving
        s["write_premium_usd"] += write_premium
        s["input_mtok"] = p.input_mtok
        s["cached_input_mtok"] = p.cached_input_mtok
    return savings, stats


def _cell(key: CellKey, saving: float, s: dict[str, float], section: Section) -> CellSaving:
    return CellSaving(
        cell=key,
        affected_spend_usd=s["cost_usd"],
        savings_usd=saving,
        requests=int(s["calls"]),
        detail={
            "calls_with_prefix": int(s["calls"]),
            "would_hit_cache": int(s["hits"]),
            "hit_ratio": round(s["hits"] / s["calls"], 4) if s["calls"] else 0.0,
            "prefix_tokens": int(s["max_prefix_tokens"]),
            "prefixes": int(s["prefixes"]),
            "cacheable_tokens": int(s["hit_tokens"]),
            "already_cached_tokens": int(s["cached_tokens"]),
            "read_saving_usd": round(s["read_saving_usd"], 6),
            "write_premium_usd": round(s["write_premium_usd"], 6),
            "input_price_mtok": s["input_mtok"],
            "cache_read_price_mtok": s["cached_input_mtok"],
            "cache_ttl_s": section.ttl_for(key[0]),
        },
    )


def _finding(section: Section, cells: list[CellSaving]) -> Finding:
    ratio = sum(c.detail["would_hit_cache"] for c in cells) / sum(c.requests for c in cells)
    return Finding(
        id=ID,
        title=TITLE,
        confidence="high" if ratio >= 0.5 else "medium",
        cells=cells,
        assumptions=[
            "The prefix stays byte-identical between calls and is marked cacheable.",
            "A cached prefix lives "
            + ", ".join(sorted({f"{section.ttl_for(c.cell[0]):g} s ({c.cell[0]})" for c in cells}))
            + " after its last use; calls further apart pay the cache-write price again.",
        ],
        evidence={"hit_ratio": round(ratio, 4), "cells": len(cells)},
        actions=[
            f"Enable prompt caching for the {c.detail['prefix_tokens']:,}-token prefix of "
            f"{describe_cell(c.cell)}: {c.detail['would_hit_cache']:,} of "
            f"{c.detail['calls_with_prefix']:,} calls would read it at "
            f"${c.detail['cache_read_price_mtok']:g}/M instead of "
            f"${c.detail['input_price_mtok']:g}/M tokens (net {usd(c.savings_usd)} in the window)."
            for c in cells[:3]
        ],
        risk=section.risk,
        effort=section.effort,
    )
