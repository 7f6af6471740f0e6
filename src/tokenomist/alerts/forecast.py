"""Spend to date and the forecast to the end of a period, from the org's own usage.

The forecast is a run-rate of recent whole days, by weekday once there are two weeks of
history (weekday and weekend traffic differ), else the plain daily mean. Its interval is the
day-to-day spread scaled by the days left; with under a week of history it is widened to at
least ±100 % of the projected remainder, and ``basis`` says so.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
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
    method, rate, sigma, samples, basis = _rates(values, now, spent_today)
    remainder = sum(rate(d) * f for d, f in left)
    days_left = sum(f for _, f in left)
    # Daily noise over the days left, plus the error of the rate itself (estimated from
    # ``samples`` days, and shared by every day left).
    half = Z * sigma * math.sqrt(days_left + days_left**2 / samples)
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


def _rates(
    values: dict[date, float], now: datetime, spent_today: float
) -> tuple[str, Callable[[date], float], float, int, str]:
    """The method, its daily rate, the daily noise, the days behind the rate, in words."""
    n = len(values)
    if n >= WEEKDAY_MIN_DAYS:
        by_wd: dict[int, list[float]] = {}
        for d, v in values.items():
            by_wd.setdefault(d.weekday(), []).append(v)
        means = {wd: statistics.fmean(vs) for wd, vs in by_wd.items()}
        squares = sum((v - means[d.weekday()]) ** 2 for d, v in values.items())
        sigma = math.sqrt(squares / max(1, n - len(means)))  # one mean fitted per weekday
        return (
            "weekday_run_rate", lambda d: means.get(d.weekday(), 0.0), sigma,
            min(len(vs) for vs in by_wd.values()),
            f"mean spend of the same weekday over the last {n} days",
        )  # fmt: skip
    if n >= 1:
        mean = statistics.fmean(values.values())
        sigma = statistics.stdev(values.values()) if n > 1 else mean
        basis = f"mean daily spend over the last {n} day{'s' if n > 1 else ''}"
        return "run_rate", lambda d: mean, sigma, n, basis
    elapsed = (now - datetime(now.year, now.month, now.day, tzinfo=UTC)).total_seconds()
    today_rate = spent_today / (elapsed / 86400) if elapsed >= 3600 else 0.0
    if not today_rate:
        return "no_data", lambda d: 0.0, 0.0, 1, "no usage before now to extrapolate from"
    basis = "today's spend so far, extrapolated (no earlier day has data)"
    return "today_run_rate", lambda d: today_rate, today_rate, 1, basis


async def forecast(usage: OrgAnalytics, scope: dict, period: str, now: datetime) -> Forecast:
    start, end = period_window(period, now)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    spent_usd = await spent(usage, scope, start, end)
    spent_today = await spent(usage, scope, today, today + timedelta(days=1))
    history = await daily_history(usage, scope, today)
    return project(now, start, end, spent_usd, spent_today, history)


@dataclass
class BacktestPoint:
    cut: date
    forecast_usd: float
    low_usd: float
    high_usd: float
    actual_usd: float

    @property
    def inside(self) -> bool:
        return self.low_usd <= self.actual_usd <= self.high_usd


@dataclass(frozen=True)
class Cut:
    """One backtest point's inputs: a midnight inside a fully observed period, what the period
    had spent before it, the history a forecast then had, and what the period really spent."""

    day: date
    start: datetime
    end: datetime
    spent_usd: float
    actual_usd: float
    history: dict[date, float]

    @property
    def at(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)

    @property
    def days_left(self) -> int:
        return (self.end.date() - self.day).days


def backtest_cuts(daily: dict[date, float], period: str) -> Iterator[Cut]:
    """Every midnight inside a fully observed ``period`` of ``daily``, with data before it only
    (the cuts ``backtest`` and any baseline compared with it share)."""
    if not daily:
        return
    first, last = min(daily), max(daily)
    day = first + timedelta(days=1)
    while day <= last:
        start, end = period_window(period, datetime(day.year, day.month, day.day, tzinfo=UTC))
        if start.date() >= first and (end.date() - timedelta(days=1)) <= last:
            days_in = [start.date() + timedelta(days=i) for i in range((end - start).days)]
            yield Cut(
                day=day,
                start=start,
                end=end,
                spent_usd=sum(daily.get(d, 0.0) for d in days_in if d < day),
                actual_usd=sum(daily.get(d, 0.0) for d in days_in),
                history={
                    d: v for d, v in daily.items() if day - timedelta(days=HISTORY_DAYS) <= d < day
                },
            )
        day += timedelta(days=1)


def backtest(daily: dict[date, float], period: str) -> list[BacktestPoint]:
    """Forecast each fully observed period from every midnight inside it, as ``forecast``
    would have then (data before the cut only), against what the period really spent."""
    points = []
    for c in backtest_cuts(daily, period):
        fc = project(c.at, c.start, c.end, c.spent_usd, 0.0, c.history)
        points.append(
            BacktestPoint(c.day, fc.forecast_usd, fc.low_usd, fc.high_usd, round(c.actual_usd, 6))
        )
    return points
