"""The forecast's arithmetic on known series, its honesty with little data, and its backtest
on the demo workload (a fixed seed and end, so the figures are reproducible)."""

from __future__ import annotations

import collections
from datetime import UTC, date, datetime, timedelta

import pytest

from tokenomist.alerts.forecast import backtest, period_window, project
from tokenomist.usage import demo

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday, noon


def test_period_windows_are_utc_calendar_periods() -> None:
    assert period_window("day", NOW) == (datetime(2026, 11, 18, tzinfo=UTC),
                                         datetime(2026, 11, 19, tzinfo=UTC))  # fmt: skip
    assert period_window("week", NOW) == (datetime(2026, 11, 16, tzinfo=UTC),
                                          datetime(2026, 11, 23, tzinfo=UTC))  # fmt: skip
    december = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert period_window("month", december) == (datetime(2026, 12, 1, tzinfo=UTC),
                                                datetime(2027, 1, 1, tzinfo=UTC))  # fmt: skip


def test_a_steady_weekly_pattern_is_forecast_exactly_by_weekday() -> None:
    # $10 on weekdays, $2 at weekends, for four weeks: the rest of the week is known.
    history = {
        NOW.date() - timedelta(days=i): (2.0 if (NOW.date() - timedelta(days=i)).weekday() >= 5
                                         else 10.0)
        for i in range(1, 29)
    }  # fmt: skip
    start, end = period_window("week", NOW)
    fc = project(NOW, start, end, spent_usd=25.0, spent_today=5.0, history=history)
    # Half of Wednesday, Thursday, Friday at $10, the weekend at $2.
    assert fc.method == "weekday_run_rate"
    assert fc.forecast_usd == pytest.approx(25.0 + 5 + 10 + 10 + 2 + 2)
    assert fc.low_usd == pytest.approx(fc.forecast_usd)
    assert fc.high_usd == pytest.approx(fc.forecast_usd)


def test_little_history_gives_a_run_rate_with_a_wide_stated_interval() -> None:
    history = {NOW.date() - timedelta(days=i): 4.0 for i in range(1, 4)}
    start, end = period_window("month", NOW)
    fc = project(NOW, start, end, spent_usd=12.0, spent_today=2.0, history=history)
    remainder = 4.0 * 12.5  # the rest of the 18th and 12 whole days
    assert fc.method == "run_rate"
    assert fc.forecast_usd == pytest.approx(12.0 + remainder)
    assert fc.low_usd == pytest.approx(12.0)  # at least ±100 % of what is left
    assert fc.high_usd >= 12.0 + 2 * remainder
    assert "widened: only 3 whole days" in fc.basis


def test_no_history_extrapolates_today_or_says_there_is_nothing() -> None:
    start, end = period_window("day", NOW)
    fc = project(NOW, start, end, spent_usd=3.0, spent_today=3.0, history={})
    assert (fc.method, fc.forecast_usd) == ("today_run_rate", pytest.approx(6.0))
    empty = project(NOW, start, end, spent_usd=0.0, spent_today=0.0, history={})
    assert (empty.method, empty.forecast_usd, empty.high_usd) == ("no_data", 0.0, 0.0)


def _demo_daily() -> dict[date, float]:
    work = demo.generate(seed=7, days=91, end=datetime(2026, 12, 1, tzinfo=UTC), planted=False)
    pricer = demo._pricer()
    daily: dict[date, float] = collections.defaultdict(float)
    for r in work.records:
        daily[date.fromisoformat(r["timestamp"][:10])] += demo._record_cost(pricer, r) or 0.0
    return dict(daily)


@pytest.mark.parametrize("period", ["week", "month"])
def test_backtest_on_the_demo_stays_inside_its_interval(period: str) -> None:
    points = backtest(_demo_daily(), period)
    assert len(points) >= 80
    coverage = sum(p.inside for p in points) / len(points)
    mape = sum(abs(p.forecast_usd - p.actual_usd) / p.actual_usd for p in points) / len(points)
    # Measured: week 96 % inside, 4.5 % mean error; month 100 %, 3.4 % (README).
    assert coverage >= 0.9, coverage
    assert mape < 0.08, mape
