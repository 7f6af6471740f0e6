"""The analyst's tools: typed functions with a name, a description and a JSON schema, all
scoped to the run's org (they only ever see ``ctx.deps.usage``, the org-scoped analytics).

Every call goes through ``call_tool``, which validates the arguments, checks for cancellation
and emits ``tool_executing`` / ``tool_completed``. The same registry can back an MCP server
(``TOOLS[name].schema()``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

from tokenomist.analyst import alert_tools, events, scope_tools
from tokenomist.analyst.context import RunContext, RunStatus
from tokenomist.analyst.query import Filters, Window, parse_ch_time, where
from tokenomist.analyst.strategies import BY_ID
from tokenomist.analyst.strategies.base import CellStats, Finding, StrategyEnv
from tokenomist.analyst.tool_types import (
    TOTALS_SQL,
    NoArgs,
    Scope,
    Tool,
    ToolResult,
    jsonable,
    priced_cost,
    totals,
)
from tokenomist.kit.errors import Unprocessable

__all__ = ["TOOLS", "Scope", "Tool", "ToolResult", "call_tool", "jsonable", "strategy_env"]

Dimension = Literal["model", "provider", "project", "feature", "end_user", "day"]
_DIMENSION_SQL = {
    "model": "model",
    "provider": "provider",
    "project": "project",
    "feature": "feature",
    "end_user": "end_user",
    "day": "toString(toDate(timestamp))",
}
_BUCKET_SQL = {
    "hour": "toString(toStartOfHour(timestamp))",
    "day": "toString(toDate(timestamp))",
    "week": "toString(toMonday(timestamp))",
}


class BreakdownArgs(Scope):
    dimensions: list[Dimension] = Field(min_length=1, max_length=4)
    limit: int | None = Field(None, ge=1, le=10_000, description="largest groups only")


class TimeSeriesArgs(Scope):
    bucket: Literal["hour", "day", "week"] = "day"


class TopDriversArgs(Scope):
    limit: int = Field(10, ge=1, le=100)


class ProfileArgs(Scope):
    dimension: Dimension | None = None


class FinderArgs(Scope):
    """Strategy finders need a window: savings are normalised to 30 days from its length."""

    from_: datetime = Field(alias="from")
    to: datetime


async def call_tool(ctx: RunContext, agent: str, name: str, args: dict[str, Any]) -> Any:
    """Run a tool for an agent: validate, emit ``tool_executing``, run, emit
    ``tool_completed`` (status ``completed`` or ``failed``). Returns the tool's data."""
    tool = TOOLS.get(name)
    if tool is None:
        raise Unprocessable(f"unknown tool {name!r}", code="unknown_tool")
    try:
        parsed = tool.args_model.model_validate(args)
    except ValidationError as exc:
        raise Unprocessable(
            f"invalid arguments for tool {name}",
            code="invalid_tool_arguments",
            details=[
                {"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()
            ],
        ) from exc
    await ctx.checkpoint()
    call_id = uuid.uuid4().hex[:12]
    shown = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    await ctx.emit(*events.tool_executing(agent, name, call_id, shown))
    started = time.perf_counter()
    try:
        result = await tool.fn(ctx, parsed)
    except Exception as exc:
        elapsed = (time.perf_counter() - started) * 1000
        message = f"{type(exc).__name__}: {exc}"[:500]
        failed = events.tool_completed(agent, name, call_id, RunStatus.failed, elapsed, message)
        await ctx.emit(*failed)
        raise
    elapsed = (time.perf_counter() - started) * 1000
    await ctx.emit(
        *events.tool_completed(agent, name, call_id, RunStatus.completed, elapsed, result.summary)
    )
    return result.data


# -- the tools ---------------------------------------------------------------------------------


def _usd(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:,.2f}"


async def data_coverage(ctx: RunContext, _: NoArgs) -> ToolResult:
    rows = await ctx.deps.usage.query(
        """
        SELECT count() AS requests, countIf(cost_usd IS NULL) AS unpriced_requests,
               min(timestamp) AS earliest, max(timestamp) AS latest,
               groupUniqArray(1000)(tuple(provider, model)) AS models,
               groupUniqArray(1000)(project) AS projects,
               groupUniqArray(1000)(feature) AS features,
               groupUniqArray(5000)(end_user) AS end_users
        FROM {usage}
        """
    )
    r = rows[0]
    if not r["requests"]:
        return ToolResult({"requests": 0}, "no usage recorded for this org")
    data: dict[str, Any] = {
        "requests": int(r["requests"]),
        "unpriced_requests": int(r["unpriced_requests"]),
        "earliest": parse_ch_time(r["earliest"]),
        "latest": parse_ch_time(r["latest"]),
        "models": sorted((p, m) for p, m in r["models"]),
        "projects": sorted(p for p in r["projects"] if p),
        "features": sorted(f for f in r["features"] if f),
        "end_users": sorted(u for u in r["end_users"] if u),
    }
    return ToolResult(
        data,
        f"{data['requests']:,} requests from {data['earliest']:%Y-%m-%d %H:%M} to "
        f"{data['latest']:%Y-%m-%d %H:%M} UTC on {len(data['models'])} models",
    )


async def spend_summary(ctx: RunContext, args: Scope) -> ToolResult:
    cond, params = where(args.window(), args.filters())
    sql = f"SELECT {TOTALS_SQL} FROM {{usage}} WHERE {cond}"
    row = (await ctx.deps.usage.query(sql, params))[0]
    data = totals(row)
    summary = f"{_usd(data['cost_usd'])} over {data['requests']:,} requests"
    if data["unpriced_requests"]:
        summary += f" ({data['unpriced_requests']:,} unpriced)"
    return ToolResult(data, summary)


async def breakdown(ctx: RunContext, args: BreakdownArgs) -> ToolResult:
    cond, params = where(args.window(), args.filters())
    keys = ", ".join(f"{_DIMENSION_SQL[d]} AS k_{d}" for d in args.dimensions)
    group = ", ".join(f"k_{d}" for d in args.dimensions)
    limit = ""
    if args.limit:
        limit = "LIMIT {bd_limit:UInt32}"
        params["bd_limit"] = args.limit
    rows = await ctx.deps.usage.query(
        f"SELECT {keys}, {TOTALS_SQL} FROM {{usage}} WHERE {cond} GROUP BY {group} "
        f"ORDER BY sum_cost_usd DESC, requests DESC, {group} {limit}",
        params,
    )
    groups = [{"key": {d: r[f"k_{d}"] for d in args.dimensions}, **totals(r)} for r in rows]
    label = ", ".join(args.dimensions)
    if not groups:
        return ToolResult(groups, f"no usage by {label}")
    top = groups[0]
    return ToolResult(
        groups,
        f"{len(groups)} groups by {label}; largest "
        f"{'/'.join(str(v) or '-' for v in top['key'].values())} at {_usd(top['cost_usd'])}",
    )


async def time_series(ctx: RunContext, args: TimeSeriesArgs) -> ToolResult:
    cond, params = where(args.window(), args.filters())
    rows = await ctx.deps.usage.query(
        f"SELECT {_BUCKET_SQL[args.bucket]} AS bucket, {TOTALS_SQL} FROM {{usage}} WHERE {cond} "
        f"GROUP BY bucket ORDER BY bucket",
        params,
    )
    points = [{"bucket": r["bucket"], **totals(r)} for r in rows]
    if not points:
        return ToolResult(points, "no usage in the window")
    priced = [p for p in points if p["cost_usd"] is not None]
    if not priced:
        return ToolResult(points, f"{len(points)} {args.bucket}s, all unpriced")
    peak = max(priced, key=lambda p: p["cost_usd"])
    return ToolResult(
        points,
        f"{len(points)} {args.bucket}s; peak {peak['bucket']} at ${peak['cost_usd']:,.2f}",
    )


async def top_cost_drivers(ctx: RunContext, args: TopDriversArgs) -> ToolResult:
    cells = await _cells(ctx, args.window(), args.filters())
    total = sum(c.spend_usd for c in cells.values())
    ranked = sorted(cells.items(), key=lambda kv: kv[1].spend_usd, reverse=True)[: args.limit]
    drivers = [
        {
            "provider": k[0],
            "model": k[1],
            "project": k[2],
            "feature": k[3],
            "requests": s.requests,
            "cost_usd": (cost := priced_cost(s.requests, s.unpriced_requests, s.spend_usd)),
            "share_pct": round(cost / total * 100, 2) if total and cost is not None else None,
            "unpriced_requests": s.unpriced_requests,
        }
        for k, s in ranked
    ]
    if not drivers:
        return ToolResult(drivers, "no usage in the window")
    d = drivers[0]
    return ToolResult(
        drivers,
        f"top driver {d['project'] or '-'}/{d['feature'] or '-'} on {d['model']}: "
        f"{_usd(d['cost_usd'])} ({d['share_pct'] or 0:g}% of ${total:,.2f})",
    )


async def percentile_profile(ctx: RunContext, args: ProfileArgs) -> ToolResult:
    cond, params = where(args.window(), args.filters())
    key = _DIMENSION_SQL[args.dimension] if args.dimension else "'all'"
    rows = await ctx.deps.usage.query(
        f"""
        SELECT {key} AS k, count() AS requests,
               quantilesTDigest(0.5, 0.9, 0.99)(input_tokens) AS q_input,
               quantilesTDigest(0.5, 0.9, 0.99)(output_tokens) AS q_output,
               quantilesTDigest(0.5, 0.9, 0.99)(latency_ms) AS q_latency
        FROM {{usage}} WHERE {cond}
        GROUP BY k ORDER BY requests DESC
        """,
        params,
    )

    def q(values: list) -> dict[str, float | None]:
        return {
            name: (round(float(v), 1) if v is not None and v == v else None)
            for name, v in zip(("p50", "p90", "p99"), values, strict=True)
        }

    profiles = [
        {
            "key": r["k"],
            "requests": int(r["requests"]),
            "input_tokens": q(r["q_input"]),
            "output_tokens": q(r["q_output"]),
            "latency_ms": q(r["q_latency"]),
        }
        for r in rows
    ]
    return ToolResult(profiles, f"token and latency percentiles for {len(profiles)} groups")


async def _cells(ctx: RunContext, window: Window | None, filters: Filters) -> dict:
    """Spend per cell (provider, model, project, feature); read once per run and scope."""
    span = f"{window.start.isoformat()}/{window.end.isoformat()}" if window else "all"
    memo_key = f"cells:{span}:{filters.describe()}"
    if memo_key not in ctx.scratch:
        cond, params = where(window, filters)
        rows = await ctx.deps.usage.query(
            f"""
            SELECT provider, model, project, feature, count() AS requests,
                   ifNull(sum(cost_usd), 0) AS sum_cost_usd,
                   countIf(cost_usd IS NULL) AS unpriced_requests
            FROM {{usage}} WHERE {cond}
            GROUP BY provider, model, project, feature
            """,
            params,
        )
        ctx.scratch[memo_key] = {
            (r["provider"], r["model"], r["project"], r["feature"]): CellStats(
                int(r["requests"]), float(r["sum_cost_usd"]), int(r["unpriced_requests"])
            )
            for r in rows
        }
    return ctx.scratch[memo_key]


async def strategy_env(ctx: RunContext, window: Window, filters: Filters) -> StrategyEnv:
    return StrategyEnv(
        usage=ctx.deps.usage,
        pricer=ctx.deps.pricer,
        catalogue=ctx.deps.catalogue,
        window=window,
        filters=filters,
        cells=await _cells(ctx, window, filters),
    )


def _finder(strategy_id: str) -> Callable[[RunContext, FinderArgs], Awaitable[ToolResult]]:
    module = BY_ID[strategy_id]

    async def run(ctx: RunContext, args: FinderArgs) -> ToolResult:
        window = args.window()
        assert window is not None  # FinderArgs requires both ends
        env = await strategy_env(ctx, window, args.filters())
        finding: Finding | None = await module.find(env)
        if finding is None:
            return ToolResult(None, "nothing found")
        monthly = window.monthly(finding.savings_usd)
        return ToolResult(
            finding,
            f"${finding.savings_usd:,.2f} in the window (${monthly:,.2f}/month) "
            f"across {len(finding.cells)} group(s)",
        )

    return run


def _tools() -> dict[str, Tool]:
    tools = [
        Tool(
            "data_coverage",
            "What usage the org has: request count, first/last timestamp, models, projects.",
            NoArgs,
            data_coverage,
        ),
        Tool(
            "spend_summary",
            "Total requests, tokens and cost (USD) in a window, optionally filtered.",
            Scope,
            spend_summary,
        ),
        Tool(
            "breakdown",
            "Requests, tokens and cost grouped by one or more dimensions, largest cost first.",
            BreakdownArgs,
            breakdown,
        ),
        Tool("time_series", "Cost and volume per hour/day/week.", TimeSeriesArgs, time_series),
        Tool(
            "top_cost_drivers",
            "The (provider, model, project, feature) groups that cost the most, with share.",
            TopDriversArgs,
            top_cost_drivers,
        ),
        Tool(
            "percentile_profile",
            "p50/p90/p99 of input tokens, output tokens and latency, optionally per dimension.",
            ProfileArgs,
            percentile_profile,
        ),
    ]
    tools.extend(scope_tools.TOOLS)
    tools.extend(alert_tools.TOOLS)
    for strategy_id, module in BY_ID.items():
        tools.append(
            Tool(
                f"find_{strategy_id}",
                (module.__doc__ or strategy_id).strip().split("\n\n")[0].replace("\n", " "),
                FinderArgs,
                _finder(strategy_id),
            )
        )
    return {t.name: t for t in tools}


TOOLS: dict[str, Tool] = _tools()
