"""WebSocket gateway benchmark: the app's `/ws` beside a bare Starlette WebSocket echo server,
both as their own processes under the same uvicorn WebSocket implementation, measured in the
same run.

1. Memory per idle connection: server RSS before and after N idle connections.
2. Delivery throughput: frames/s received by K clients. Gateway: each client replays its own
   finished run with `resume` (bus read + serialisation + send). Echo: each client sends frames
   of the same mean size and reads the echoes. The ratio is the gateway's cost over the floor.
3. Latency: p50/p99 from `user_message` to `run_started` and to `run_completed` for C
   concurrent golden paths (real analyst runs).

    .venv/bin/python benchmarks/ws_bench.py [--idle 1000] [--concurrent 100] [--replays 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from summary import append, row  # noqa: E402
from tests.support.servers import free_port, server_process  # noqa: E402

SUBPROTOCOL = "tokenomist.v1"
PASSWORD = "correct horse battery staple 42"
QUESTION = "How can we cut our AI spend?"
SOLO = 5  # orgs asking one at a time: the baseline


# --- the baseline: a bare Starlette echo server -------------------------------------------


def echo_app():
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            return

    return Starlette(routes=[WebSocketRoute("/ws", echo)])


def serve_echo(port: int) -> None:
    import uvicorn

    uvicorn.run(
        echo_app(), host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
    )


# --- helpers --------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def register(base: str, n: int, first: int = 0) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        sem = asyncio.Semaphore(8)

        async def one(i: int) -> str:
            async with sem:
                r = await client.post(
                    "/auth/register",
                    json={"email": f"bench-{i}-{os.getpid()}@example.com", "password": PASSWORD},
                )
                r.raise_for_status()
                return r.json()["access_token"]

        return list(await asyncio.gather(*(one(i) for i in range(first, first + n))))


async def seed(base: str, tokens: list[str], days: int) -> int:
    """Each user's org gets the demo workload, so every run queries real data."""
    from tokenomist.usage.demo import generate

    records = generate(seed=7, days=days).records
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        sem = asyncio.Semaphore(4)

        async def one(token: str) -> None:
            async with sem:
                r = await client.post(
                    "/api/v1/usage", json=records, headers={"Authorization": f"Bearer {token}"}
                )
                r.raise_for_status()

        await asyncio.gather(*(one(t) for t in tokens))
    return len(records)


def ws_connect(base: str, token: str | None):
    url = base.replace("http://", "ws://") + "/ws"
    protocols = [SUBPROTOCOL, f"bearer.{token}"] if token else None
    return connect(url, subprotocols=protocols, open_timeout=60, max_size=2**24, ping_interval=None)


async def idle_memory(base: str, pid: int, tokens: list[str] | None, n: int) -> float:
    """KiB of server RSS per idle connection."""
    async with ws_connect(base, tokens[0] if tokens else None):
        pass
    await asyncio.sleep(0.5)
    before = rss_kib(pid)
    sockets = []
    sem = asyncio.Semaphore(50)

    async def open_one(i: int) -> None:
        async with sem:
            ws = await ws_connect(base, tokens[i % len(tokens)] if tokens else None).__aenter__()
            if tokens:
                await ws.recv()  # connection_established: the connection is fully set up
            sockets.append(ws)

    await asyncio.gather(*(open_one(i) for i in range(n)))
    await asyncio.sleep(1.0)
    after = rss_kib(pid)
    await asyncio.gather(*(ws.close() for ws in sockets))
    return (after - before) / n


async def golden_paths(base: str, tokens: list[str]) -> tuple[list[float], list[float], list]:
    to_started: list[float] = []
    to_completed: list[float] = []
    runs: list[tuple[str, str, int, int]] = []  # token, run_id, events, bytes
    barrier = asyncio.Barrier(len(tokens))

    async def one(token: str) -> None:
        async with ws_connect(base, token) as ws:
            await ws.recv()
            await barrier.wait()
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "user_message", "content": QUESTION}))
            count = size = 0
            while True:
                raw = await ws.recv()
                frame = json.loads(raw)
                if frame["type"] == "error":
                    raise RuntimeError(f"run refused: {frame['data']}")
                count += 1
                size += len(raw)
                if frame["type"] == "run_started":
                    to_started.append((time.perf_counter() - t0) * 1000)
                if frame["type"] in ("run_completed", "run_failed"):
                    to_completed.append((time.perf_counter() - t0) * 1000)
                    runs.append((token, frame["run_id"], count, size))
                    return

    await asyncio.gather(*(one(t) for t in tokens))
    return to_started, to_completed, runs


async def gateway_throughput(base: str, runs: list, replays: int) -> tuple[float, int]:
    barrier = asyncio.Barrier(len(runs))

    async def one(token: str, run_id: str, events: int) -> int:
        async with ws_connect(base, token) as ws:
            await ws.recv()
            await barrier.wait()
            got = 0
            for _ in range(replays):
                await ws.send(json.dumps({"type": "resume", "run_id": run_id, "after_seq": 0}))
                for _ in range(events):
                    await ws.recv()
                    got += 1
            return got

    t0 = time.perf_counter()
    counts = await asyncio.gather(*(one(t, r, n) for t, r, n, _ in runs))
    elapsed = time.perf_counter() - t0
    total = sum(counts)
    return total / elapsed, total


async def echo_throughput(base: str, clients: int, per_client: int, size: int) -> float:
    payload = json.dumps({"type": "agent_thinking", "data": {"text": "x" * max(0, size - 40)}})
    barrier = asyncio.Barrier(clients)

    async def one() -> int:
        async with ws_connect(base, None) as ws:
            await barrier.wait()

            async def sender() -> None:
                for _ in range(per_client):
                    await ws.send(payload)

            task = asyncio.create_task(sender())
            for _ in range(per_client):
                await ws.recv()
            await task
            return per_client

    t0 = time.perf_counter()
    total = sum(await asyncio.gather(*(one() for _ in range(clients))))
    return total / (time.perf_counter() - t0)


# --- main -----------------------------------------------------------------------------------


async def drop_keys(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i : i + 500])
    finally:
        await client.aclose()


def start_echo(port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--echo-server", str(port)], cwd=ROOT)


async def main(args: argparse.Namespace) -> None:
    echo_port = free_port()
    echo = start_echo(echo_port)
    env = {
        "TOKENOMIST_WS_RATE_LIMIT": "1000000",
        "TOKENOMIST_ACCESS_TOKEN_TTL_S": "86400",
        "TOKENOMIST_JWT_SECRET": "bench-secret-" + "y" * 40,
        "TOKENOMIST_LOG_LEVEL": "WARNING",
    }
    if args.database_url:
        env["TOKENOMIST_DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["TOKENOMIST_REDIS_URL"] = args.redis_url
        env["TOKENOMIST_CACHE_PREFIX"] = f"bench{os.getpid()}:"
    with tempfile.TemporaryDirectory() as tmp, server_process(env, Path(tmp)) as app:
        echo_base = f"http://127.0.0.1:{echo_port}"
        for _ in range(100):
            try:
                async with ws_connect(echo_base, None):
                    break
            except OSError:
                await asyncio.sleep(0.1)
        # Idle memory first, on both processes alike: before seeding and runs grow the app's
        # heap (whose freed blocks would then absorb new connections and hide their cost).
        tokens = await register(app.url, 10)
        mem_app = await idle_memory(app.url, app.proc.pid, tokens, args.idle)
        mem_echo = await idle_memory(echo_base, echo.pid, None, args.idle)

        tokens += await register(app.url, max(args.concurrent - 10, 0) + SOLO, first=10)
        rows_per_org = await seed(app.url, tokens[: args.concurrent + SOLO], args.seed_days)

        # Baseline in the same run: one golden path at a time, same data, same process, each
        # the first question of its org (as every concurrent one is: no memoised answer).
        solo_started: list[float] = []
        solo_completed: list[float] = []
        for token in tokens[args.concurrent : args.concurrent + SOLO]:
            s1, c1, _ = await golden_paths(app.url, [token])
            solo_started += s1
            solo_completed += c1
        started, completed, runs = await golden_paths(app.url, tokens[: args.concurrent])
        # The same people ask again over unchanged data: the analytics memo answers.
        _, again, _ = await golden_paths(app.url, tokens[: args.concurrent])
        events_per_run = statistics.mean(n for _, _, n, _ in runs)
        mean_size = int(sum(b for *_, b in runs) / sum(n for _, _, n, _ in runs))

        app_rate, delivered = await gateway_throughput(app.url, runs, args.replays)
        echo_rate = await echo_throughput(
            echo_base, len(runs), int(events_per_run * args.replays), mean_size
        )
    echo.terminate()
    echo.wait()
    if args.redis_url:
        await drop_keys(args.redis_url, env["TOKENOMIST_CACHE_PREFIX"])

    bus = "redis" if args.redis_url else "memory"
    rows = [
        ("idle connections", f"{args.idle}", ""),
        ("RSS per idle connection, gateway (KiB)", f"{mem_app:.1f}", ""),
        (
            "RSS per idle connection, echo (KiB)",
            f"{mem_echo:.1f}",
            f"ratio {mem_app / mem_echo:.2f}x" if mem_echo > 0 else "",
        ),
        (
            "frames/s delivered, gateway (resume replay)",
            f"{app_rate:,.0f}",
            f"{delivered:,} frames, {len(runs)} clients, mean {mean_size} B",
        ),
        ("frames/s delivered, echo", f"{echo_rate:,.0f}", "same clients, same frame size"),
        ("gateway / echo", f"{app_rate / echo_rate:.2f}", ""),
        (
            f"golden paths in parallel (bus={bus})",
            f"{len(runs)}",
            f"{events_per_run:.0f} events per run, {rows_per_org:,} usage rows per org",
        ),
        (
            "user_message → run_started p50 / p99 (ms)",
            f"{pct(started, 50):.0f} / {pct(started, 99):.0f}",
            f"one at a time: {statistics.median(solo_started):.0f}",
        ),
        (
            "user_message → run_completed p50 / p99 (ms)",
            f"{pct(completed, 50):.0f} / {pct(completed, 99):.0f}",
            f"one at a time: {statistics.median(solo_completed):.0f}",
        ),
        (
            "same questions again → run_completed p50 / p99 (ms)",
            f"{pct(again, 50):.0f} / {pct(again, 99):.0f}",
            "unchanged data: the memo answers",
        ),
    ]
    where = "PostgreSQL + Redis" if args.redis_url and args.database_url else bus
    p99, solo = pct(completed, 99), statistics.median(solo_completed)
    append(args.summary, [
        row(f"{len(runs)} golden paths at once ({where}): run_completed p99 ms", f"{p99:.0f}",
            f"one at a time {solo:.0f}", f"{p99 / solo:.1f}x", "<= 2000", p99 <= 2000),
        row("  the same questions again (memo): run_completed p99 ms", f"{pct(again, 99):.0f}",
            f"one at a time {solo:.0f}", f"{pct(again, 99) / solo:.2f}x", "<= 2000",
            pct(again, 99) <= 2000),
        row("WebSocket delivery (resume replay), frames/s", f"{app_rate:,.0f}",
            f"bare echo {echo_rate:,.0f}", f"{app_rate / echo_rate:.2f}x", ">= 0.5x",
            app_rate / echo_rate >= 0.5),
        row(f"RSS per idle WebSocket ({args.idle}), KiB", f"{mem_app:.1f}",
            f"bare echo {mem_echo:.1f}", f"{mem_app / mem_echo:.2f}x" if mem_echo > 0 else "",
            "<= 1.1x", mem_echo > 0 and mem_app / mem_echo <= 1.1),
    ])  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"\n| {'metric'.ljust(width)} | value | note |")
    print(f"|{'-' * (width + 2)}|-------|------|")
    for name, value, note in rows:
        print(f"| {name.ljust(width)} | {value} | {note} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--replays", type=int, default=20)
    parser.add_argument("--seed-days", type=int, default=2, help="demo workload per org")
    parser.add_argument("--redis-url", default="", help="run the app on the Redis Streams bus")
    parser.add_argument("--database-url", default="", help="SQL database (default: SQLite)")
    parser.add_argument("--echo-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--summary", help="append the headline rows to this file (bench.py)")
    cli = parser.parse_args()
    if cli.echo_server:
        serve_echo(cli.echo_server)
    else:
        asyncio.run(main(cli))
