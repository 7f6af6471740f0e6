"""Forecast backtest: how often a period's real spend lands inside the stated interval, and how
far the forecast is from it, on the demo workload and on the Azure LLM inference trace.

The method is ``alerts.forecast.backtest`` (the one tests/alerts/test_forecast.py checks): every
midnight inside a fully observed week or month, forecast the period from the data before that
midnight only, then compare with what the period really spent. Baseline, measured in the same
run on the same cuts: a flat run-rate (the mean of the last 28 days for every day left, no
weekday pattern) — what the forecast would be without its weekday awareness.

Workloads:
- ``demo`` — the demo generator (seed 7, 91 days to 2026-12-01, nothing planted), priced with
  the shipped prices.
- ``azure-conv`` / ``azure-code`` — the real Azure traces (one hour of production requests,
  2023-11-16), priced as gpt-4o. An hour holds no days, so the trace is time-compressed: its
  minute *i* stands for day *i* (from 2026-01-01), which keeps its real burstiness and drift as
  a daily series of ~60 days. The figures say how the method copes with real, uneven traffic;
  they are not a claim about a real day-level trace.

    .venv/bin/python benchmarks/forecast_bench.py [--azure-dir ../shared/data/azure-llm-trace-2023]
"""

from __future__ import annotations

import argparse
import collections
import csv
import statistics
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import summary  # noqa: E402

from tokenomist.alerts.forecast import backtest, backtest_cuts, period_window  # noqa: E402
from tokenomist.usage import demo  # noqa: E402
from tokenomist.usage.demo_components import record_cost, shipped_pricer  # noqa: E402

AZURE_DIR = ROOT / ".." / "shared" / "data" / "azure-llm-trace-2023"
AZURE_FILES = {"azure-conv": "AzureLLMInferenceTrace_conv.csv",
               "azure-code": "AzureLLMInferenceTrace_code.csv"}  # fmt: skip
COMPRESSED_START = date(2026, 1, 1)


def demo_daily() -> dict[date, float]:
    work = demo.generate(seed=7, days=91, end=datetime(2026, 12, 1, tzinfo=UTC), planted=False)
    pricer = shipped_pricer()
    daily: dict[date, float] = collections.defaultdict(float)
    for r in work.records:
        daily[date.fromisoformat(r["timestamp"][:10])] += record_cost(pricer, r) or 0.0
    return dict(daily)


def azure_daily(path: Path) -> dict[date, float]:
    """Spend per minute of the trace, minute i as day i (see the module docstring)."""
    pricer = shipped_pricer()
    when = datetime(2023, 11, 16, tzinfo=UTC)
    per_minute: dict[int, float] = collections.defaultdict(float)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    first = datetime.fromisoformat(rows[0]["TIMESTAMP"][:19])
    for row in rows:
        minute = int((datetime.fromisoformat(row["TIMESTAMP"][:19]) - first).total_seconds() // 60)
        per_minute[minute] += pricer.cost(
            "openai", "gpt-4o", input_tokens=int(row["ContextTokens"]),
            output_tokens=int(row["GeneratedTokens"]), when=when,
        ) or 0.0  # fmt: skip
    last = max(per_minute)
    # The last minute is partial (the trace stops inside it): leave it out.
    return {COMPRESSED_START + timedelta(days=m): v for m, v in per_minute.items() if m < last}


def flat_run_rate_error(daily: dict[date, float], period: str) -> list[float]:
    """The baseline's absolute error at each cut the backtest uses (same cuts, same data)."""
    errors = []
    for c in backtest_cuts(daily, period):
        span = (c.day - min(c.history)).days if c.history else 0
        mean = sum(c.history.values()) / span if span else 0.0
        errors.append(abs(c.spent_usd + mean * c.days_left - c.actual_usd))
    return errors


def row(name: str, daily: dict[date, float], period: str) -> list[str]:
    points = backtest(daily, period)
    if not points:
        return [name, period, "0", "-", "-", "-", "-", "-", "no fully observed period"]
    inside = sum(p.inside for p in points) / len(points)
    mae = statistics.fmean(abs(p.forecast_usd - p.actual_usd) for p in points)
    mape = statistics.fmean(abs(p.forecast_usd - p.actual_usd) / p.actual_usd for p in points)
    width = statistics.fmean((p.high_usd - p.low_usd) / p.actual_usd for p in points)
    base = flat_run_rate_error(daily, period)
    base_mae = statistics.fmean(base)
    periods = len({period_window(period, datetime.combine(p.cut, datetime.min.time(),
                                                          UTC))[0] for p in points})  # fmt: skip
    return [
        name, period, str(len(points)), f"{inside * 100:.0f} %", f"${mae:,.2f}",
        f"{mape * 100:.1f} %", f"±{width * 50:.0f} %", f"${base_mae:,.2f}",
        f"{periods} period{'s' if periods > 1 else ''}; baseline error / forecast error "
        f"{base_mae / mae:.2f}x" if mae else "",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--azure-dir", type=Path, default=AZURE_DIR)
    parser.add_argument("--summary", help="append headline rows for make bench to this file")
    args = parser.parse_args()
    workloads: list[tuple[str, dict[date, float]]] = [("demo", demo_daily())]
    for name, file in AZURE_FILES.items():
        path = args.azure_dir / file
        if not path.exists():
            sys.exit(f"the Azure LLM trace is not at {path.resolve()} (--azure-dir)")
        workloads.append((name, azure_daily(path)))
    header = ["workload", "period", "cuts", "inside interval", "mean abs error",
              "mean abs % error", "mean interval", "baseline MAE", "note"]  # fmt: skip
    table = [header] + [row(n, d, p) for n, d in workloads for p in ("week", "month")]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for name, daily in workloads:
        print(f"{name}: {len(daily)} days, ${sum(daily.values()):,.2f} in all")
    summary.append(args.summary, [headline(r) for r in table[1:]])


def headline(r: list[str]) -> dict[str, str]:
    """One `make bench` row per workload and period: the forecast's mean absolute error against
    a flat run-rate's on the same cuts, with how often the actual landed inside the interval."""
    name, period, cuts, inside, mae, _, _, base_mae = r[:8]
    ratio = float(base_mae.strip("$").replace(",", "")) / float(mae.strip("$").replace(",", ""))
    return summary.row(
        f"forecast {name}/{period}: MAE, {inside} of {cuts} cuts inside interval",
        mae,
        f"{base_mae} flat run-rate",
        f"{ratio:.2f}x (flat ÷ ours)",
        "no issue goal (backtest, #13)",
    )


if __name__ == "__main__":
    main()
