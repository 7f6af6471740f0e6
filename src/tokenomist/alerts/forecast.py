"""Spend to date and the forecast to the end of a period, from the org's own usage.

The forecast is a run-rate of recent whole days, by weekday once there are two weeks of
history (weekday and weekend traffic differ), else the plain daily mean. Its interval is the
day-to-day spread scaled by the days left; with under a week of history it is widened to at
least ±100 % of the projected remainder, and ``basis`` says so.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tokenomist.kit.analytics import OrgAnalytics
from tokenomist.usage.repository import UsageFilter, summary_groups, summary_totals

HISTORY_DAYS = 28
WEEKDAY_MIN_DAYS = 14
FEW_DAYS = 7
Z = 1.96  # ~95 % under a normal approximation of daily noise


def period_window(period: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the UTC calendar day, ISO week (from Monday) or month holding ``now``."""
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "month":
        start = day.replace(day=1)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return start, nxt
    raise ValueError(f"unknown period {period!r}")


def scope_filter(scope: dict[str, str | None], start: datetime, end: datetime) -> UsageFilter:
    columns = tuple((k, (v,)) for k, v in sorted(scope.items()) if v)
    return UsageFilter(start, end, columns)


async def spent(usage: OrgAnalytics, scope: dict, start: datetime, end: datetime) -> float:
    totals = await summary_totals(usage, start, end, scope_filter(scope, start, end))
    return float(totals.get("cost_usd") or 0.0)


async def daily_history(usage: OrgAnalytics, scope: dict, today: datetime) -> dict[date, float]:
    """Spend per whole UTC day over the ``HISTORY_DAYS`` before ``today`` (days with data)."""
    start = today - timedelta(days=HISTORY_DAYS)
    rows = await summary_groups(usage, "day", start, today, scope_filter(scope, start, today))
    return {date.fromisoformat(str(r["key"])): float(r["cost_usd"] or 0.0) for r in rows}


@dataclass
class Forecast:
    period_start: datetime
    period_end: datetime
    spent_usd: float
    forecast_usd: float
    low_usd: float
    high_usd: float
    method: str
    basis: str
    history_days: int

    def out(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def project(
    now: datetime,
    start: datetime,
    end: datetime,
    spent_usd: float,
    spent_today: float,
    history: dict[date, float],
) -> Forecast:
    """Forecast from ``history`` (whole days before today, missing days inside it are $0)."""
    today = now.date()
    first = min(history) if history else None
    days = [first + timedelta(days=i) for i in range((today - first).days)] if first else []
    values = {d: history.get(d, 0.0) for d in days}
    # What is left: the rest of today, then each whole day, clipped to the period's end.
    left: list[tuple[date, float]] = []
    cursor = now
    while cursor < end:
        nxt = min(
            datetime(cursor.year, cursor.month, cursor.day, tzinfo=UTC) + timedelta(days=1), end
        )
        left.append((cursor.date(), (nxt - cursor).total_seconds() / 86400))
        cursor = nxt
    n = len(values)
    if n >= WEEKDAY_MIN_DAYS:
        method = "weekday_run_rate"
        by_wd: dict[int, list[float]] = {}
        for d, v in values.items():
            by_wd.setdefault(d.weekday(), []).append(v)
        means = {wd: statistics.fmean(vs) for wd, vs in by_wd.items()}
        residuals = [v - means[d.weekday()] for d, v in values.items()]
        rate = lambda d: means.get(d.weekday(), 0.0)  # noqa: E731
        sigma = statistics.pstdev(residuals)
        basis = f"mean spend of the same weekday over the last {n} days"
    elif n >= 1:
        method = "run_rate"
        mean = statistics.fmean(values.values())
        rate = lambda d: mean  # noqa: E731
        sigma = statistics.pstdev(values.values()) if n > 1 else mean
        basis = f"mean daily spend over the last {n} day{'s' if n > 1 else ''}"
    else:
        elapsed = (now - datetime(now.year, now.month, now.day, tzinfo=UTC)).total_seconds()
        today_rate = spent_today / (elapsed / 86400) if elapsed >= 3600 else 0.0
        method = "today_run_rate" if today_rate else "no_data"
        rate = lambda d: today_rate  # noqa: E731
        sigma = today_rate
        basis = (
            "today's spend so far, extrapolated (no earlier day has data)"
            if today_rate
            else "no usage before now to extrapolate from"
        )
    remainder = sum(rate(d) * f for d, f in left)
    days_left = sum(f for _, f in left)
    half = Z * sigma * math.sqrt(days_left)
    if n < FEW_DAYS:
        half = max(half, remainder)
        basis += f"; interval widened: only {n} whole day{'s' if n != 1 else ''} of history"
    return Forecast(
        period_start=start,
        period_end=end,
        spent_usd=round(spent_usd, 6),
        forecast_usd=round(spent_usd + remainder, 6),
        low_usd=round(spent_usd + max(0.0, remainder - half), 6),
        high_usd=round(spent_usd + remainder + half, 6),
        method=method,
        basis=basis,
        history_days=n,
    )


async def forecast(usage: OrgAnalytics, scope: dict, period: str, now: datetime) -> Forecast:
    start, end = period_window(period, now)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    spent_usd = await spent(usage, scope, start, end)
    spent_today = await spent(usage, scope, today, today + timedelta(days=1))
    history = await daily_history(usage, scope, today)
    return project(now, start, end, spent_usd, spent_today, history)
