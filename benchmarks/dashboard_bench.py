"""Dashboard benchmark: each page's API calls and the dashboard's load in Chromium over N rows.

1. N canonical rows (default 1,000,000; 7 projects, 23 features, 997 end users, 8 models over
   30 days) are bulk-loaded into one org of a fresh data dir.
2. ``tokenomist serve`` runs as its own process on that data dir.
3. Every API call the dashboard makes is timed alone (best of ``--repeat``), then the
   dashboard is loaded in Chromium (navigation start → every figure drawn) ``--repeat`` times,
   unfiltered and filtered by one project. Baseline in the same run: one plain
   ``count()`` over the org's rows through the same HTTP stack (``/api/v1/usage/summary``
   without grouping is that query plus the aggregates).

    .venv/bin/python benchmarks/dashboard_bench.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest_bench import write_ndjson  # noqa: E402
from summary import append, row  # noqa: E402
from tests.support.servers import server_process  # noqa: E402

from tokenomist.kit.resources import close_resources, open_resources  # noqa: E402
from tokenomist.settings import Settings  # noqa: E402
from tokenomist.usage import lifecycle, service  # noqa: E402

SECRET = "d" * 40
EMAIL, PASSWORD = "bench@example.com", "correct horse battery"
CALLS = {
    "dashboard": [
        ("/api/v1/usage/summary", {}),
        ("/api/v1/usage/series", {"interval": "day", "group_by": "model", "top": 8}),
        ("/api/v1/usage/models", {}),
        ("/api/v1/usage/summary", {"group_by": "feature"}),
        ("/api/v1/usage/summary", {"group_by": "project"}),
        ("/api/v1/usage/summary", {"group_by": "end_user"}),
    ],
    "ask": [("/api/v1/threads", {})],
    "import": [("/api/v1/usage/formats", {})],
    "api-keys": [("/api/v1/api-keys", {})],
}


async def load(data_dir: Path, org_id: str, path: Path) -> float:
    settings = Settings(_env_file=None, environment="test", data_dir=data_dir, jwt_secret=SECRET)
    res = await open_resources(settings)
    await lifecycle.start(res)
    try:
        t0 = time.perf_counter()
        report = await service.import_file(res, org_id, path, format="canonical")
        return time.perf_counter() - t0 if report.accepted else 0.0
    finally:
        await lifecycle.stop(res)
        await close_resources(res)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


async def page_loads(url: str, repeat: int, query: str) -> list[float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        await page.goto(url + "/")
        await page.fill("input[name=email]", EMAIL)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("#login-submit")
        await page.wait_for_selector("main[data-loaded]", state="attached", timeout=600_000)
        out = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            await page.goto(url + "/dashboard" + query)
            await page.wait_for_selector("main[data-loaded]", state="attached", timeout=600_000)
            out.append(time.perf_counter() - t0)
        await browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--summary", help="append the headline rows to this file (bench.py)")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="tk-dash-bench-"))
    env = {"TOKENOMIST_JWT_SECRET": SECRET}
    with server_process(env, data_dir) as srv:
        resp = httpx.post(srv.url + "/auth/register", json={"email": EMAIL, "password": PASSWORD})
        org_id = resp.json()["user"]["org"]["id"]
    rows = data_dir / "rows.ndjson"
    write_ndjson(rows, args.rows)
    load_s = asyncio.run(load(data_dir, org_id, rows))
    print(f"loaded {args.rows:,} rows in {load_s:.1f} s")
    table = []
    with server_process(env, data_dir) as srv, httpx.Client(base_url=srv.url, timeout=600) as c:
        token = c.post("/auth/login", json={"email": EMAIL, "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        project = c.get("/api/v1/usage/summary", params={"group_by": "project"}, headers=headers)
        one = project.json()["groups"][0]["key"]
        for page, calls in CALLS.items():
            for path, params in calls:
                for filtered in (False, True) if page == "dashboard" else (False,):
                    q = {**params, **({"project": one} if filtered else {})}
                    s = best(lambda p=path, q=q: c.get(p, params=q, headers=headers), args.repeat)
                    table.append((page, path + ("?" + str(httpx.QueryParams(q)) if q else ""), s))
        unfiltered = asyncio.run(page_loads(srv.url, args.repeat, ""))
        filtered = asyncio.run(page_loads(srv.url, args.repeat, f"?project={one}"))
    print(f"\nDashboard benchmark: {args.rows:,} rows in one org (chDB, 2-core machine)\n")
    print(f"| {'page':<9} | {'API call':<78} | {'best s':>7} |")
    print(f"|{'-' * 11}|{'-' * 80}|{'-' * 9}|")
    for page, call, s in table:
        print(f"| {page:<9} | {call:<78} | {s:>7.3f} |")
    times = {call: s for _, call, s in table}
    grouped = times["/api/v1/usage/summary?group_by=feature"]
    plain = times["/api/v1/usage/summary"]
    append(args.summary, [
        row(f"dashboard summary, one group_by, {args.rows:,} rows, s", f"{grouped:.3f}",
            f"no group_by {plain:.3f}", f"{grouped / plain:.2f}x",
            "<= 0.3 s (at 10M rows)", grouped <= 0.3),
        row(f"dashboard page load in Chromium, {args.rows:,} rows, s",
            f"{statistics.median(unfiltered):.2f}", "", "", "", None),
    ])  # fmt: skip
    for name, runs in (("unfiltered", unfiltered), (f"project={one}", filtered)):
        print(f"\ndashboard page load ({name}): median {statistics.median(runs):.2f} s, "
              f"best {min(runs):.2f} s over {len(runs)} loads")  # fmt: skip


if __name__ == "__main__":
    main()
