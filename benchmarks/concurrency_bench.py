"""Concurrent analyses on chDB: N orgs asking "How can we cut our AI spend?" at the same moment,
beside one asking alone, in one process and one run (the machine may be shared, so only
figures from the same run are compared).

Data: each org gets the demo workload (``usage.demo.generate``, 2 days by default: 2,280 rows,
every strategy's inefficiency planted), priced as ingest prices it, in one chDB data dir.

Phases, each over orgs that have not asked before (no memoised answer helps) unless named so:

1. alone — one analysis at a time (median of 5 orgs): the floor the concurrent runs face.
2. N at once, one chDB worker thread, no memo: how the analytics tier worked before.
3. N at once, the worker pool (``TOKENOMIST_ANALYTICS_WORKERS``, default min(4, cores)).
   Phases 2 and 3 alternate ``--repeat`` times on fresh orgs; each keeps its best round.
4. N at once, the same questions again over unchanged data: answered from the memo.
5. Where the time goes: the run's queries re-run bare, and as ``EXPLAIN`` (parse, analyse,
   plan — no data read): the engine's fixed cost per query at this size.

Every analysis runs the real pipeline (``run_pipeline``: all agents, every tool, the report)
against the real engine; events go to an in-memory sink (``ws_bench.py`` measures the same
through the server, SQL bookkeeping, bus and WebSocket).

    .venv/bin/python benchmarks/concurrency_bench.py [--orgs 100] [--days 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from summary import append, print_table, row  # noqa: E402
from tests.analyst.rows import records_to_arrow  # noqa: E402

from tokenomist.analyst.catalogue import load_catalogue  # noqa: E402
from tokenomist.analyst.context import AnalystDeps, CancelToken, RunContext  # noqa: E402
from tokenomist.analyst.events import ListSink  # noqa: E402
from tokenomist.analyst.llm import NoLLM  # noqa: E402
from tokenomist.analyst.pipeline import run_pipeline  # noqa: E402
from tokenomist.kit.analytics import ChdbAnalytics, OrgAnalytics, migrate  # noqa: E402
from tokenomist.usage import demo  # noqa: E402
from tokenomist.usage.pricing import Pricer  # noqa: E402

QUESTION = "How can we cut our AI spend?"
GOAL_P99_MS = 2000.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class Bench:
    def __init__(self, backend: ChdbAnalytics, pricer: Pricer) -> None:
        self.backend, self.pricer, self.catalogue = backend, pricer, load_catalogue()

    async def ask(self, org: str) -> float:
        """Milliseconds for one full analysis of ``org``; fails loudly if the plan is empty."""
        deps = AnalystDeps(OrgAnalytics(self.backend, org), self.pricer, self.catalogue, NoLLM())
        ctx = RunContext("u", org, "run", "thread", time.monotonic() + 3600,
                         CancelToken(None, "run"), ListSink(), deps)  # fmt: skip
        started = time.perf_counter()
        answer = await run_pipeline(ctx, QUESTION)
        elapsed = (time.perf_counter() - started) * 1000
        if not answer.report.get("strategies"):
            raise RuntimeError(f"the analysis of {org} found no savings: the data did not load")
        return elapsed

    async def together(self, orgs: list[str]) -> list[float]:
        return list(await asyncio.gather(*(self.ask(o) for o in orgs)))


async def query_profile(backend: ChdbAnalytics, bench: Bench, org: str) -> tuple[int, float, float]:
    """The run's queries (captured from one analysis), timed bare and as EXPLAIN."""
    captured: list[tuple[str, dict]] = []
    original = ChdbAnalytics._statement

    async def capture(self, sql, params, fmt):
        captured.append((sql, dict(params or {})))
        return await original(self, sql, params, fmt)

    ChdbAnalytics._statement = capture  # type: ignore[method-assign]
    try:
        await bench.ask(org)
    finally:
        ChdbAnalytics._statement = original  # type: ignore[method-assign]

    async def total(prefix: str) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for sql, params in captured:
                await backend.command(prefix + sql, params)
            best = min(best, time.perf_counter() - started)
        return best * 1000

    return len(captured), await total(""), await total("EXPLAIN ")


async def main(args: argparse.Namespace) -> list[dict[str, str]]:
    pricer = Pricer()
    records = demo.generate(seed=7, days=args.days).records
    n, rounds = args.orgs, args.repeat
    # Fresh orgs per phase and round: alone (5), one worker (n), pool (n); the memo phase
    # re-asks the pool's.
    names = {
        "alone": [f"alone-{i}" for i in range(5)],
        **{f"single{r}": [f"single{r}-{i}" for i in range(n)] for r in range(rounds)},
        **{f"pool{r}": [f"pool{r}-{i}" for i in range(n)] for r in range(rounds)},
    }
    with tempfile.TemporaryDirectory(prefix="concurrency-bench-") as tmp:
        path = Path(tmp) / "chdb"
        pool = ChdbAnalytics(path, database="bench", workers=args.workers)
        await pool.open()
        await migrate(pool)
        orgs = [o for group in names.values() for o in group] + ["profile"]
        started = time.perf_counter()
        for i in range(0, len(orgs), 50):
            tables = [records_to_arrow(o, records, pricer) for o in orgs[i : i + 50]]
            await pool.insert_arrow("llm_usage", pa.concat_tables(tables))
        print(f"{len(orgs)} orgs x {len(records):,} rows loaded in "
              f"{time.perf_counter() - started:.1f} s; {os.cpu_count()} cores; "
              f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)  # fmt: skip
        single = ChdbAnalytics(path, database="bench", workers=1, memo_bytes=0)
        await single.open()

        bench_pool, bench_single = Bench(pool, pricer), Bench(single, pricer)
        await bench_pool.ask("profile")  # warm-up: imports, the catalogue, price lookups
        alone = [await bench_pool.ask(o) for o in names["alone"]]
        solo = statistics.median(alone)
        # The two designs alternate, round by round; each keeps its best round (lowest p99):
        # the machine is shared and a neighbour's burst should not decide the comparison.
        single_ms: list[float] = []
        pool_ms: list[float] = []
        for r in range(rounds):
            got = await bench_single.together(names[f"single{r}"])
            if not single_ms or pct(got, 99) < pct(single_ms, 99):
                single_ms = got
            got = await bench_pool.together(names[f"pool{r}"])
            if not pool_ms or pct(got, 99) < pct(pool_ms, 99):
                pool_ms = got
        memo_ms = await bench_pool.together(names["pool0"])
        queries, bare, explain = await query_profile(single, bench_single, "profile")
        await single.close()
        await pool.close()

    cores = os.cpu_count() or 1
    p99_single, p99_pool, p99_memo = pct(single_ms, 99), pct(pool_ms, 99), pct(memo_ms, 99)
    return [
        row("analysis alone (median of 5 new orgs), ms", f"{solo:.0f}"),
        row(f"{n} at once, 1 chDB worker, no memo (before): p50 / p99 ms",
            f"{statistics.median(single_ms):.0f} / {p99_single:.0f}", f"alone {solo:.0f}",
            f"{p99_single / solo:.1f}x", "p99 <= 2000", p99_single <= GOAL_P99_MS),
        row(f"{n} at once, {pool.workers} workers + memo (new orgs): p50 / p99 ms",
            f"{statistics.median(pool_ms):.0f} / {p99_pool:.0f}",
            f"1 worker p99 {p99_single:.0f}", f"{p99_pool / p99_single:.2f}x",
            "p99 <= 2000", p99_pool <= GOAL_P99_MS),
        row(f"{n} at once, same questions again (memo): p50 / p99 ms",
            f"{statistics.median(memo_ms):.0f} / {p99_memo:.0f}", f"alone {solo:.0f}",
            f"{p99_memo / solo:.2f}x", "p99 <= 2000", p99_memo <= GOAL_P99_MS),
        row(f"one analysis: {queries} queries, engine ms bare / EXPLAIN only",
            f"{bare:.0f} / {explain:.0f}", "", f"{explain / bare:.0%} is planning"),
        row(f"floor for {n} new orgs on {cores} cores ({n} x bare / cores), ms",
            f"{n * bare / cores:.0f}", "", "", "", None),
    ]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=100, help="analyses at once")
    parser.add_argument("--days", type=int, default=2, help="demo workload per org")
    parser.add_argument("--workers", type=int, default=0, help="chDB workers (0: default)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of the two designs")
    parser.add_argument("--summary", help="append the rows to this file (bench.py)")
    cli = parser.parse_args()
    result = asyncio.run(main(cli))
    print_table(result)
    append(cli.summary, result)
