"""Tools over the alerts domain: the spend anomalies of a window (seasonal baseline, drivers
that add up to the change) and where each budget stands (spend to date, forecast, interval,
status) with the org's own month forecast beside them. Same contract as ``tools``: typed
arguments, the run's org only, a summary line; every dollar figure is a query's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tokenomist.alerts import anomalies as anomalies_mod
from tokenomist.alerts import forecast as forecast_mod
from tokenomist.alerts.service import status_of
from tokenomist.analyst import fmt
from tokenomist.analyst.context import RunContext
from tokenomist.analyst.tool_types import NoArgs, Scope, Tool, ToolResult
from tokenomist.kit.errors import Unprocessable


class AnomaliesArgs(Scope):
    """A window (default the last 7 days) and filters: anomalies within that usage only.
    Exclusions are refused (a slice's baseline needs the same rows in every week)."""

    granularity: Literal["day", "hour"] = "day"


def _forecast_out(fc: forecast_mod.Forecast) -> dict[str, Any]:
    """The forecast as the API gives it (times as ISO 8601 UTC with ``Z``)."""
    return {k: anomalies_mod.iso(v) if isinstance(v, datetime) else v for k, v in fc.out().items()}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def anomalies(ctx: RunContext, args: AnomaliesArgs) -> ToolResult:
    """Anomalies of the days (hours) touching [from, to], default the last 7 days."""
    now = datetime.now(UTC)
    end = _utc(args.to) or now
    # ``to`` is inclusive in the analyst's windows: the window holding it counts.
    end = min(end + timedelta(milliseconds=1), now) if args.to else end
    start = _utc(args.from_) or end - timedelta(days=7)
    span = anomalies_mod.MAX_SPAN[args.granularity]
    start = max(start, end - span)  # the longest look-back the detector reads
    if args.exclude:
        raise Unprocessable(
            "the anomalies tool takes no 'exclude' filters", code="invalid_tool_arguments"
        )
    columns = tuple(
        (k, (v,) if isinstance(v, str) else tuple(v))
        for k, v in sorted(args.filters().values.items())
    )
    found = await anomalies_mod.detect(
        ctx.deps.usage, start, end, now, args.granularity, columns=columns
    )
    out = [a.out() for a in found]
    if not out:
        return ToolResult(out, "no spend anomaly")
    top = found[0]
    excess = sum(a.actual_usd - a.expected_usd for a in found)
    summary = f"{fmt.plural(len(out), 'anomaly', 'anomalies')}, {fmt.money(excess)} above expected"
    return ToolResult(out, summary + f"; largest on {top.dimension} {top.key}")


async def budgets_status(ctx: RunContext, _: NoArgs) -> ToolResult:
    """Each budget's period, spend to date, forecast with its interval and status, and the
    org's whole spend forecast for this month."""
    now = datetime.now(UTC)
    budgets = await ctx.deps.budgets() if ctx.deps.budgets is not None else []
    items: list[dict[str, Any]] = []
    for b in budgets:
        fc = await forecast_mod.forecast(ctx.deps.usage, b.scope, b.period, now)
        items.append(
            {
                "id": b.id,
                "name": b.name,
                "scope": b.scope,
                "period": b.period,
                "amount_usd": b.amount_usd,
                "thresholds": b.thresholds,
                "status": status_of(b, fc),
                **_forecast_out(fc),
            }
        )
    month = _forecast_out(await forecast_mod.forecast(ctx.deps.usage, {}, "month", now))
    data = {"budgets": items, "month_forecast": month}
    off = [i for i in items if i["status"] in ("exceeded", "forecast_exceeded")]
    summary = f"{fmt.plural(len(items), 'budget')}, {len(off)} over or heading over; month "
    summary += f"forecast {fmt.money(month['forecast_usd'])}"
    return ToolResult(data, summary)


TOOLS = [
    Tool(
        "anomalies",
        "Spend anomalies per day or hour (model, project, feature, end user) against the same "
        "weekday of recent weeks, each with drivers (volume, tokens per call, model mix, "
        "price) that add up to actual - expected.",
        AnomaliesArgs,
        anomalies,
    ),
    Tool(
        "budgets_status",
        "Every budget's spend to date, forecast (with interval) and status, and the org's "
        "spend forecast for this month.",
        NoArgs,
        budgets_status,
    ),
]

__all__ = ["TOOLS", "Scope"]
