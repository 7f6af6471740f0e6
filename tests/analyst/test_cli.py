"""``tokenomist ask`` as a user runs it: a separate process talking to a running server over
HTTP, streaming the agent timeline and printing the report."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from tests.support.analyst import PASSWORD, demo_workload, load, register


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tokenomist", "ask", *args,
        env={**os.environ, "COLUMNS": "20", **env},  # piped output ignores the width
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, stdout.decode(), stderr.decode()


async def test_ask_streams_the_agents_and_prints_the_plan(embedded_server):
    srv = embedded_server
    user = await register(srv.url)
    await load(srv, user.org_id, demo_workload().records)
    env = {"TOKENOMIST_URL": srv.url, "TOKENOMIST_EMAIL": user.email,
           "TOKENOMIST_PASSWORD": PASSWORD}  # fmt: skip
    code, out, err = await run_cli("How can we cut our AI spend?", env=env)
    assert code == 0, err
    positions = [err.index(f"▶ {a}") for a in ("triage", "data", "optimization", "actions")]
    assert positions == sorted(positions)
    assert "⚙ find_batch_tier()" in err and "done in" in err
    assert "Savings plan" in out and "Actions" in out and "Assumptions" in out
    # whole values, not cells cut to fit 80 (or 20) columns
    assert "…" not in out
    assert "analytics/nightly-summaries (openai gpt-4.1)" in out

    code, out, err = await run_cli("How can we cut our AI spend?", "--json", "--quiet", env=env)
    assert code == 0, err
    report = json.loads(out)
    assert {s["id"] for s in report["strategies"]} == set(demo_workload().planted)
    assert "▶ triage" not in err


async def test_ask_with_a_wrong_password_says_so_and_exits_1(embedded_server):
    user = await register(embedded_server.url)
    env = {"TOKENOMIST_URL": embedded_server.url, "TOKENOMIST_EMAIL": user.email,
           "TOKENOMIST_PASSWORD": "wrong password 123"}  # fmt: skip
    code, _, err = await run_cli("what did we spend?", env=env)
    assert code == 1
    assert f"login as {user.email} failed: HTTP 401" in err


async def test_ask_without_a_server_names_the_address(tmp_path):
    env = {"TOKENOMIST_URL": "http://127.0.0.1:9", "TOKENOMIST_EMAIL": "a@example.com",
           "TOKENOMIST_PASSWORD": "x", "TOKENOMIST_DATA_DIR": str(tmp_path)}  # fmt: skip
    code, _, err = await run_cli("what did we spend?", env=env)
    assert code == 1
    assert "no Tokenomist server at http://127.0.0.1:9" in err


async def test_ask_against_a_demo_server_needs_no_flags_and_finds_the_plants(tmp_path):
    """The golden path as a newcomer runs it: ``tokenomist serve --demo`` (``make run``) in
    one process, ``tokenomist ask`` in another, sharing only the data dir (for the demo
    password) and the URL."""
    from datetime import UTC, datetime, timedelta

    import pytest

    from tests.support.servers import server_process
    from tokenomist.usage import demo

    data_dir = tmp_path / "data"
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with server_process({"TOKENOMIST_DEMO": "1"}, data_dir) as server:
        env = {"TOKENOMIST_URL": server.url, "TOKENOMIST_DATA_DIR": str(data_dir)}
        code, out, err = await run_cli("How can we cut our AI spend?", "--json", env=env)
    assert code == 0, err + server.output()
    assert "▶ reporting" in err
    report = json.loads(out)
    found = {s["id"]: s["savings_usd"] for s in report["strategies"]}
    # The server seeded the workload ending at the hour it started (maybe the next one).
    for end in (hour, hour + timedelta(hours=1)):
        planted = demo.generate(end=end).planted
        if all(found.get(k) == pytest.approx(p.savings_usd, rel=0.1) for k, p in planted.items()):
            break
    else:
        raise AssertionError(f"plan {found} does not match the planted demo savings")
    assert set(found) == set(planted)
