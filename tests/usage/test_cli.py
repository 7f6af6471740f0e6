"""``tokenomist ingest`` / ``demo-data`` as a user runs them (subprocesses), against a live
server over HTTP, and ``--local`` against a data dir; plus demo seeding at server start."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.servers import live_server
from tests.support.usage import AZURE_CONV, FIXTURES, account, api_key, require_azure
from tokenomist.usage.demo import DEMO_EMAIL, STRATEGY_IDS, generate


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tokenomist", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        # A tiny COLUMNS: piped output must not depend on the terminal's width.
        env={**os.environ, "COLUMNS": "20", "TOKENOMIST_ENVIRONMENT": "test", **(env or {})},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    return proc.returncode, out.decode()


def table_row(out: str, name: str) -> list[str]:
    """The cells of the summary-table row for a file (piped, the table is tab-separated)."""
    row = next(line for line in out.splitlines() if line.startswith(name) and "\t" in line)
    return row.split("\t")


async def test_ingest_azure_trace_through_the_server(embedded_server):
    path = require_azure(AZURE_CONV)
    async with httpx.AsyncClient(base_url=embedded_server.url, timeout=60) as client:
        user = await account(client)
        key = await api_key(client, user, ["ingest"])
        code, out = await cli(
            "ingest", str(path), "--provider", "openai", "--model", "gpt-4o", "--project", "conv",
            "--url", embedded_server.url, "--api-key", key, "--chunk-mb", "0.2",
        )  # fmt: skip
        assert code == 0, out
        cells = table_row(out, "AzureLLMInferenceTrace_conv.csv")
        assert cells[1:7] == ["azure-trace", "19,366", "0", "0", "0", "0"]
        # progress on stderr, one plain line per file, before the result table
        assert out.index("AzureLLMInferenceTrace_conv.csv: ") < out.index("Usage import")
        summary = (await client.get("/api/v1/usage/summary", headers=user)).json()
        assert summary["totals"]["requests"] == 19_366
        assert cells[7] == f"{summary['totals']['cost_usd']:,.4f}"


async def test_chunked_upload_reports_original_line_numbers(embedded_server, tmp_path):
    lines = ["timestamp,provider,model,input_tokens,output_tokens,request_id"]
    for i in range(3000):
        tokens = -1 if i == 2497 else 100
        lines.append(f"2026-10-01T00:00:00Z,openai,gpt-4o,{tokens},10,r{i}")
    path = tmp_path / "usage.csv"
    path.write_text("\n".join(lines) + "\n")
    async with httpx.AsyncClient(base_url=embedded_server.url, timeout=60) as client:
        key = await api_key(client, await account(client), ["ingest"])
    code, out = await cli(
        "ingest", str(path), "--url", embedded_server.url, "--api-key", key, "--chunk-mb", "0.02"
    )
    assert code == 0, out
    assert "usage.csv:2499: input_tokens: must not be negative" in out  # line 1 is the header
    assert table_row(out, "usage.csv")[2:5] == ["2,999", "0", "1"]
    size = f"{path.stat().st_size:,}"
    assert out.index(f"usage.csv: {size} of {size} bytes sent") < out.index("Usage import")


async def test_ingest_refusals_name_the_problem_and_the_cli_option(embedded_server, tmp_path):
    typo = tmp_path / "typo.csv"
    typo.write_text("timestamp,provider,model,input_tokns\n2026-10-01T00:00:00Z,openai,gpt-4o,1\n")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    extra = tmp_path / "extra.csv"
    extra.write_text(
        "timestamp,provider,model,input_tokens,output_tokens\n"
        "2026-10-01T00:00:00Z,openai,gpt-4o,10,1,7\n"
    )
    async with httpx.AsyncClient(base_url=embedded_server.url, timeout=60) as client:
        key = await api_key(client, await account(client), ["ingest"])
    code, out = await cli(
        "ingest", str(typo), str(empty), str(extra), "--url", embedded_server.url,
        "--api-key", key,
    )  # fmt: skip
    assert code == 1, out
    assert (
        "typo.csv: refused: HTTP 422 unknown_format: could not recognise the input format: it "
        "looks like the canonical CSV but column `input_tokns` is unknown (did you mean "
        "`input_tokens`?); fix the header, or pass --format canonical to read it as canonical"
    ) in out
    assert "?format=" not in out  # the CLI user has no URL to add a parameter to
    assert "empty.csv: refused: HTTP 422 empty_input: the file is empty (0 bytes)" in out
    assert "extra.csv:2: (extra value 6): 6 values but the header names 5 columns" in out
    assert table_row(out, "extra.csv")[2:6] == ["0", "0", "1", "0"]


async def test_ingest_reports_skipped_rows_per_reason(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url, timeout=60) as client:
        key = await api_key(client, await account(client), ["ingest"])
    code, out = await cli(
        "ingest", str(FIXTURES / "otlp.json"), "--url", embedded_server.url, "--api-key", key
    )
    assert code == 0, out
    assert table_row(out, "otlp.json")[1:6] == ["otlp", "2", "0", "0", "1"]
    assert "otlp.json: skipped 1 span_without_genai_usage" in out


async def test_ingest_refuses_a_bad_login_and_an_unreachable_server(embedded_server):
    code, out = await cli(
        "ingest", str(FIXTURES / "canonical.csv"), "--url", embedded_server.url,
        "--email", "nobody@example.com", "--password", "wrong password here",
    )  # fmt: skip
    assert code == 1 and "login as nobody@example.com failed: HTTP 401" in out
    code, out = await cli(
        "ingest", str(FIXTURES / "canonical.csv"), "--url", "http://127.0.0.1:9", "--api-key", "x"
    )
    assert code == 1 and "Tokenomist server at http://127.0.0.1:9 unreachable" in out


async def test_local_mode_refuses_a_data_dir_held_by_a_server(chdb_dir, tmp_path, embedded_server):
    # this test process holds chdb_dir (the in-process server uses it)
    code, out = await cli(
        "ingest", "--local", "--org", "acme", str(FIXTURES / "canonical.csv"),
        env={"TOKENOMIST_DATA_DIR": str(tmp_path), "TOKENOMIST_CHDB_DIR": str(chdb_dir)},
    )  # fmt: skip
    assert code == 1
    assert f"held by a running server (pid {os.getpid()})" in " ".join(out.split())


@pytest.mark.slow
async def test_local_mode_loads_into_the_data_dir(tmp_path):
    env = {"TOKENOMIST_DATA_DIR": str(tmp_path / "data")}
    code, out = await cli(
        "users", "create", "--email", "local@example.com", "--password", "a long passphrase",
        "--org", "acme", env=env,
    )  # fmt: skip
    assert code == 0, out
    code, out = await cli(
        "ingest", "--local", "--org", "acme", str(FIXTURES / "canonical.csv"), env=env
    )
    assert code == 0, out
    assert table_row(out, "canonical.csv")[1:4] == ["canonical", "3", "0"]
    code, out = await cli(
        "ingest", "--local", "--org", "acme", str(FIXTURES / "canonical.csv"), env=env
    )
    assert table_row(out, "canonical.csv")[2:4] == ["0", "3"]  # nothing new, three duplicates
    code, out = await cli("ingest", "--local", "--org", "nope", str(FIXTURES / "canonical.csv"),
                          env=env)  # fmt: skip
    assert code == 1 and "no org with id or name 'nope'" in out
    typo = tmp_path / "typo.csv"
    typo.write_text("timestamp,provider,model,input_tokns\n2026-10-01T00:00:00Z,openai,gpt-4o,1\n")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\n")
    code, out = await cli("ingest", "--local", "--org", "acme", str(typo), str(empty), env=env)
    assert code == 1, out
    assert "column `input_tokns` is unknown (did you mean `input_tokens`?)" in out
    assert "pass --format canonical" in out and "?format=" not in out
    assert "empty.csv: refused: empty_input: the file is empty (only whitespace)" in out


async def test_demo_data_writes_the_workload(tmp_path):
    out_file = tmp_path / "demo.ndjson"
    code, out = await cli("demo-data", "--out", str(out_file), "--days", "3", "--seed", "11")
    assert code == 0, out
    records = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(records) == len(generate(seed=11, days=3).records)
    for strategy in STRATEGY_IDS:
        assert strategy in out
    code, out = await cli("demo-data")
    assert code == 2 and "--out" in out


async def test_demo_seeding_at_start_is_idempotent_and_cli_defaults_to_demo_user(make_settings):
    settings = make_settings(demo=True)
    async with live_server(settings) as srv:
        password = (Path(settings.data_dir) / "demo_password").read_text().strip()
        async with httpx.AsyncClient(base_url=srv.url, timeout=60) as client:
            resp = await client.post(
                "/auth/login", json={"email": DEMO_EMAIL, "password": password}
            )
            assert resp.status_code == 200
            headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}
            first = (
                await client.get(
                    "/api/v1/usage/summary", params={"group_by": "project"}, headers=headers
                )
            ).json()
        assert first["totals"]["requests"] > 20_000
        assert first["totals"]["unpriced_requests"] == 0
        assert {"support", "sales", "analytics", "agents", "internal-tools"} <= {
            g["key"] for g in first["groups"]
        }
        # with no credentials the CLI logs in as the demo user (password from the data dir)
        code, out = await cli(
            "ingest", str(FIXTURES / "canonical.csv"), "--url", srv.url,
            env={"TOKENOMIST_DATA_DIR": str(settings.data_dir)},
        )  # fmt: skip
        assert code == 0, out
    async with (  # restart: seeding again adds nothing
        live_server(settings) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=60) as client,
    ):
        resp = await client.post("/auth/login", json={"email": DEMO_EMAIL, "password": password})
        headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}
        again = (
            await client.get(
                "/api/v1/usage/summary", params={"group_by": "project"}, headers=headers
            )
        ).json()
    assert again["totals"]["requests"] == first["totals"]["requests"] + 3
