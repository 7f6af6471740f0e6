"""Tools about the scope of an answer rather than its figures: what the filters cover outside
the window (so an answer can say what it left out), which days had traffic (so run-rates
come from them), what the same tokens would cost on another model, and which models have no
price. Same contract as ``tools``: typed arguments, org-scoped SQL, a summary line."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from tokenomist.analyst import fmt
from tokenomist.analyst.context import RunContext
from tokenomist.analyst.query import Window, ch_time, parse_ch_time, where
from tokenomist.analyst.tool_types import Scope, Tool, ToolResult
from tokenomist.kit.errors import Unprocessable

_EPOCH = "1970-01-01"


def _time(value: str) -> datetime | None:
    return None if not value or value.startswith(_EPOCH) else parse_ch_time(value)


def _side(n: Any, lo: str, hi: str, cost: Any) -> dict[str, Any]:
    n = int(n)
    return {
        "requests": n,
        "earliest": _time(lo) if n else None,
        "latest": _time(hi) if n else None,
        "cost_usd": float(cost or 0.0),
    }


async def scope_coverage(ctx: RunContext, args: Scope) -> ToolResult:
    """The filters' usage over all time, and the part of it before and after the window."""
    window = args.window()
    cond, params = where(None, args.filters())
    lo, hi = "toDateTime64('2100-01-01', 3, 'UTC')", "toDateTime64('1970-01-01', 3, 'UTC')"
    if window is not None:
        lo = "{w_from:DateTime64(3, 'UTC')}"
        hi = "{w_to:DateTime64(3, 'UTC')}"
        params |= {"w_from": ch_time(window.start), "w_to": ch_time(window.end)}
    row = (
        await ctx.deps.usage.query(
            f"""
            SELECT count() AS n, min(timestamp) AS lo, max(timestamp) AS hi,
                   ifNull(sum(cost_usd), 0) AS cost,
                   countIf(timestamp < {lo}) AS b_n, minIf(timestamp, timestamp < {lo}) AS b_lo,
                   maxIf(timestamp, timestamp < {lo}) AS b_hi,
                   ifNull(sumIf(cost_usd, timestamp < {lo}), 0) AS b_cost,
                   countIf(timestamp > {hi}) AS a_n, minIf(timestamp, timestamp > {hi}) AS a_lo,
                   maxIf(timestamp, timestamp > {hi}) AS a_hi,
                   ifNull(sumIf(cost_usd, timestamp > {hi}), 0) AS a_cost
            FROM {{usage}} WHERE {cond}
            """,
            params,
        )
    )[0]
    data = _side(row["n"], row["lo"], row["hi"], row["cost"])
    if window is not None:
        data["before"] = _side(row["b_n"], row["b_lo"], row["b_hi"], row["b_cost"])
        data["after"] = _side(row["a_n"], row["a_lo"], row["a_hi"], row["a_cost"])
    summary = f"{fmt.plural(data['requests'], 'request')} in scope"
    if window is not None:
        left = data["before"]["requests"] + data["after"]["requests"]
        summary += f", {fmt.plural(left, 'request')} outside the window"
    return ToolResult(data, summary)


async def traffic_days(ctx: RunContext, args: Scope) -> ToolResult:
    """The UTC days of the window that had traffic."""
    cond, params = where(args.window(), args.filters())
    rows = await ctx.deps.usage.query(
        f"SELECT toString(toDate(timestamp)) AS day, count() AS requests, "
        f"min(timestamp) AS first, max(timestamp) AS last FROM {{usage}} "
        f"WHERE {cond} GROUP BY day ORDER BY day",
        params,
    )
    days = [
        {
            "day": r["day"],
            "requests": int(r["requests"]),
            "busy_s": (parse_ch_time(r["last"]) - parse_ch_time(r["first"])).total_seconds(),
        }
        for r in rows
    ]
    return ToolResult(days, f"{fmt.plural(len(days), 'day')} with traffic")


def busy_days(days: list[dict[str, Any]]) -> float:
    """How long the traffic itself lasted: first to last request, summed over its days."""
    return sum(d.get("busy_s", 0.0) for d in days) / 86400


def activity(window: Window, days: list[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    """``(active_days, gaps)``: the days of the window with traffic (whole UTC days, never
    more than the window's length), and every run of at least one whole day without any
    (``{from, to, days}``, dates inclusive). A burst of 58 minutes is one day of traffic:
    its run-rate is that day's spend every day, not its minutes stretched over the month."""
    if not days:
        return 0.0, []
    active = min(float(len(days)), (window.end - window.start).total_seconds() / 86400)
    dates = [datetime.fromisoformat(d["day"]).replace(tzinfo=window.start.tzinfo) for d in days]
    gaps = []
    first = window.start.replace(hour=0, minute=0, second=0, microsecond=0)
    last = window.end.replace(hour=0, minute=0, second=0, microsecond=0)
    edges = [first - timedelta(days=1), *dates, last + timedelta(days=1)]
    for a, b in itertools.pairwise(edges):
        missing = (b - a).days - 1
        if missing >= 1:
            gap_from, gap_to = a + timedelta(days=1), b - timedelta(days=1)
            gaps.append(
                {"from": f"{gap_from:%Y-%m-%d}", "to": f"{gap_to:%Y-%m-%d}", "days": missing}
            )
    return active, gaps


class RepriceArgs(Scope):
    target_provider: str = Field(description="provider of the model to price on")
    target_model: str = Field(description="model id to price the same tokens on")


async def reprice(ctx: RunContext, args: RepriceArgs) -> ToolResult:
    """The scope's own tokens priced on another model (the pricing module's unit prices,
    long-context tiers applied per request), beside what they cost."""
    pricer = ctx.deps.pricer
    standard = pricer.unit_prices(args.target_provider, args.target_model)
    if standard is None:
        raise Unprocessable(
            f"no price for {args.target_provider}/{args.target_model} in the price data",
            code="unknown_model",
        )
    cond, params = where(args.window(), args.filters())
    thresholds = sorted({t for t, _ in standard.tiers})
    bucket = "0"
    if thresholds:
        bucket = " + ".join(f"(input_tokens > {int(t)})" for t in thresholds)
    rows = await ctx.deps.usage.query(
        f"""
        SELECT service_tier AS tier, {bucket} AS bucket, count() AS n,
               sum(input_tokens) AS inp, sum(cached_input_tokens) AS cached,
               sum(cache_write_tokens) AS cw, sum(output_tokens) AS outp,
               ifNull(sum(cost_usd), 0) AS actual, countIf(cost_usd IS NULL) AS unpriced
        FROM {{usage}} WHERE {cond} GROUP BY tier, bucket
        """,
        params,
    )
    cost = actual = 0.0
    requests = unpriced = 0
    for r in rows:
        prices = pricer.unit_prices(args.target_provider, args.target_model, r["tier"]) or standard
        tiers = [prices, *(t for _, t in prices.tiers)]
        p = tiers[min(int(r["bucket"]), len(tiers) - 1)]
        uncached = int(r["inp"]) - int(r["cached"]) - int(r["cw"])
        cost += (
            uncached * p.input_mtok
            + int(r["cached"]) * p.cached_input_mtok
            + int(r["cw"]) * p.cache_write_mtok
            + int(r["outp"]) * p.output_mtok
        ) / 1_000_000 + p.request_usd * int(r["n"])
        actual += float(r["actual"])
        requests += int(r["n"])
        unpriced += int(r["unpriced"])
    data = {
        "provider": args.target_provider,
        "model": args.target_model,
        "requests": requests,
        "cost_usd": cost,
        "actual_cost_usd": actual,
        "unpriced_requests": unpriced,
        "price_source": standard.source,
    }
    a, b = fmt.money_pair(cost, actual)
    return ToolResult(data, f"{a} on {args.target_model} vs {b} as run")


async def unpriced_models(ctx: RunContext, args: Scope) -> ToolResult:
    cond, params = where(args.window(), args.filters())
    rows = await ctx.deps.usage.query(
        f"""
        SELECT provider, model, count() AS n, sum(input_tokens) AS inp,
               sum(output_tokens) AS outp, min(timestamp) AS lo, max(timestamp) AS hi
        FROM {{usage}} WHERE {cond} AND cost_usd IS NULL
        GROUP BY provider, model ORDER BY n DESC, provider, model
        """,
        params,
    )
    models = [
        {
            "provider": r["provider"],
            "model": r["model"],
            "requests": int(r["n"]),
            "input_tokens": int(r["inp"]),
            "output_tokens": int(r["outp"]),
            "earliest": parse_ch_time(r["lo"]),
            "latest": parse_ch_time(r["hi"]),
        }
        for r in rows
    ]
    return ToolResult(models, f"{fmt.plural(len(models), 'unpriced model')}")


TOOLS = [
    Tool(
        "scope_coverage",
        "Requests and time range the filters cover, and how many fall before/after a window.",
        Scope,
        scope_coverage,
    ),
    Tool("traffic_days", "The UTC days of a window that had traffic.", Scope, traffic_days),
    Tool(
        "reprice",
        "What the scope's own tokens would cost on another model (pricing module).",
        RepriceArgs,
        reprice,
    ),
    Tool(
        "unpriced_models", "Models whose calls have no price, with volumes.", Scope, unpriced_models
    ),
]
