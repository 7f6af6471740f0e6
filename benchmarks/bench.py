"""`make bench`: every benchmark at sizes that finish in a few minutes, then ONE table of their
headline measures — each with its baseline measured in the same run, the ratio, the goal of
issue #19 and whether it is met. Each script still prints its own detailed table on the way.

    .venv/bin/python benchmarks/bench.py [--full] [--only concurrency,ws,...]

``--full`` uses the goal sizes (10M rows for the analysis and the dashboard), which take far
longer. The PostgreSQL + Redis golden-path run needs ``TOKENOMIST_BENCH_DATABASE_URL`` (an
existing PostgreSQL database) and ``TOKENOMIST_BENCH_REDIS_URL``; without them it is left out
and the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from summary import print_table, row  # noqa: E402


def plan(full: bool) -> dict[str, list[list[str]]]:
    analysis = ["--rows", "1000000"] + (["--rows", "10000000"] if full else [])
    pg, redis = (os.environ.get(f"TOKENOMIST_BENCH_{k}_URL", "") for k in ("DATABASE", "REDIS"))
    ws_pg = (
        [
            [
                "ws_bench.py",
                "--idle",
                "200",
                "--replays",
                "5",
                "--database-url",
                pg,
                "--redis-url",
                redis,
            ]
        ]
        if pg and redis
        else []
    )
    return {
        "concurrency": [["concurrency_bench.py", "--orgs", "100", "--repeat", "2"]],
        "ws": [["ws_bench.py", "--idle", "1000", "--replays", "10"], *ws_pg],
        "ingest": [
            [
                "ingest_bench.py",
                "--rows",
                "1000000" if full else "300000",
                "--http-batches",
                "60",
                "--repeat",
                "2",
            ]
        ],
        "analyst": [["analyst_bench.py", *analysis, "--repeat", "2"]],
        "forecast": [["forecast_bench.py"]],
        "dashboard": [
            ["dashboard_bench.py", "--rows", "10000000" if full else "1000000", "--repeat", "3"]
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the goal sizes (slow)")
    parser.add_argument("--only", default="", help="comma-separated: " + ", ".join(plan(False)))
    args = parser.parse_args()
    chosen = plan(args.full)
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    rows: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="tk-bench-all-") as tmp:
        out = Path(tmp) / "summary.ndjson"
        for name, commands in chosen.items():
            for command in commands:
                started = time.perf_counter()
                print(f"\n### {' '.join(command)}", flush=True)
                done = subprocess.run(
                    [sys.executable, str(HERE / command[0]), *command[1:], "--summary", str(out)],
                    check=False,
                )
                took = time.perf_counter() - started
                print(f"### {name}: exit {done.returncode} after {took:.0f} s", flush=True)
                if done.returncode != 0:
                    rows.append(
                        row(f"{name}: FAILED (exit {done.returncode})", "", "", "", "", False)
                    )
            if name == "ws" and len(commands) == 1:
                rows.append(
                    row(
                        "golden paths on PostgreSQL + Redis",
                        "not run",
                        "",
                        "",
                        "<= 2000 ms: set TOKENOMIST_BENCH_DATABASE_URL/_REDIS_URL",
                    )
                )
        if out.exists():
            rows = [json.loads(line) for line in out.read_text().splitlines()] + rows
    load = os.getloadavg()
    print(
        f"\nmake bench — {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} "
        "(other work on the machine shows in every figure; each ratio is within one run)\n"
    )
    print_table(rows)


if __name__ == "__main__":
    main()
