"""Schemathesis against the app's own /openapi.json, on a live server on each SQL backend: no
generated request may get a 5xx.

The schemathesis CLI runs in a subprocess (so every phase runs as an operator would run it:
examples, coverage, fuzzing, stateful) against uvicorn serving in this test's event loop, with
the Bearer token of a freshly registered user. Two independent witnesses must agree there was
no server error: schemathesis' ``not_a_server_error`` check, and the server's own request
counter (``/metrics``), which counts every 5xx answer, also those schemathesis deduplicates.

``POST /auth/logout`` is left out: it revokes the very token the run authenticates with, after
which every other operation would only be tested for its 401. ``/api/v1/alert-channels`` is left
out too: a channel is a URL the server posts to, and generated ones would send traffic off this
machine (tests/alerts covers those endpoints against a local receiver).

The short run (a handful of examples per operation) belongs to the default suite; the long
one is ``slow``. ``TOKENOMIST_FUZZ_EXAMPLES`` / ``TOKENOMIST_FUZZ_SEED`` override the long
run's size and seed for a deeper exploration by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from pathlib import Path

import httpx
import pytest

# In a process of its own (Makefile): after thousands of generated requests against servers in
# this process's event loop, the database-outage tests that follow hung on a dropped connection.
pytestmark = pytest.mark.fuzz

SHORT_EXAMPLES = 5
LONG_EXAMPLES = int(os.environ.get("TOKENOMIST_FUZZ_EXAMPLES", "60"))
SEED = int(os.environ.get("TOKENOMIST_FUZZ_SEED", "20261203"))
RUN_TIMEOUT_S = 540  # a bound on the whole CLI run, far above what it needs
_FIVE_XX = re.compile(
    r'^tokenomist_http_requests_total\{method="(\w+)",route="([^"]*)",status="(5\d\d)"\} (\S+)$',
    re.M,
)


async def _token(base_url: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        r = await client.post(
            "/auth/register",
            json={
                "email": f"fuzz-{uuid.uuid4().hex[:10]}@example.com",
                "password": "correct horse battery",
            },
        )
    assert r.status_code == 201, r.text
    return r.json()["access_token"]


async def _server_errors(base_url: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        text = (await client.get("/metrics")).text
    return {f"{m} {route} -> {status}": float(n) for m, route, status, n in _FIVE_XX.findall(text)}


async def _schemathesis(base_url: str, token: str, examples: int, workdir: Path) -> dict:
    """Run the CLI to completion; its JSON report (counts, failures, errors)."""
    report = workdir / "schemathesis.json"
    args = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{base_url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", "not_a_server_error",
        "--exclude-path", "/auth/logout",
        # Alert channels are URLs the server will POST to (/test, budget deliveries): fuzzed
        # ones would send traffic to generated addresses off this machine.
        "--exclude-path-regex", "^/api/v1/alert-channels",
        "--max-examples", str(examples),
        "--seed", str(SEED),
        "--workers", "1",
        "--request-timeout", "60",
        "--generation-database", "none",
        "--continue-on-failure",
        "--no-color",
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=workdir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "120"},
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    output = out.decode(errors="replace")
    assert report.exists(), f"schemathesis wrote no report (exit {proc.returncode}):\n{output}"
    data = json.loads(report.read_text())
    data["_output"] = output
    return data


async def _fuzz(server, tmp_path: Path, examples: int) -> None:
    token = await _token(server.url)
    result = await _schemathesis(server.url, token, examples, tmp_path)
    cases = result["test_cases"]
    server_errors = await _server_errors(server.url)
    backend = server.resources.engine.dialect.name
    summary = f"{backend}: {cases['generated']} cases, 5xx answers by route: {server_errors}"
    print(summary)  # shown with -s / -rP: the figure the suite measured
    assert result["complete"], (
        f"the run stopped early ({result['stop_reason']})\n" + (result["_output"][-6000:])
    )
    assert cases["generated"] > 0, result["_output"][-3000:]
    assert result["failures"] == [], f"{summary}\n{result['_output'][-12000:]}"
    assert result["errors"] == [], f"{summary}\n{result['_output'][-6000:]}"
    assert server_errors == {}, summary


async def test_no_generated_request_gets_a_server_error_short(server, tmp_path):
    await _fuzz(server, tmp_path, SHORT_EXAMPLES)


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
async def test_no_generated_request_gets_a_server_error(server, tmp_path):
    await _fuzz(server, tmp_path, LONG_EXAMPLES)
