"""CLI output piped (not a terminal) is the same whatever the terminal's width: plain lines,
whole values. Every run here sets COLUMNS tiny, so anything laid out for the terminal would
wrap or cut what the tests look for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def tokenomist(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tokenomist", *args],
        env={**os.environ, "COLUMNS": "20", "LINES": "5", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_usage_error_is_one_plain_line_whatever_the_path_length(tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-directory-name-" * 4) / "thresholds.toml"
    proc = tokenomist("verify", "--target", "http://127.0.0.1:1", "--thresholds", str(deep))
    assert proc.returncode == 2
    assert "╭" not in proc.stderr and "│" not in proc.stderr  # no Rich panel
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("Error:"))
    assert f"thresholds file {deep}" in line


def test_help_is_plain_when_piped() -> None:
    proc = tokenomist("users", "--help")
    assert proc.returncode == 0
    assert "╭" not in proc.stdout
    assert "create  Create a user (idempotent: an existing user is left unchanged)." in (
        proc.stdout
    )


def test_a_piped_table_is_tab_separated_with_whole_values(tmp_path: Path) -> None:
    proc = tokenomist("demo-data", "--out", str(tmp_path / "d.ndjson"), "--days", "2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    title = next(i for i, ln in enumerate(lines) if ln.startswith("Planted inefficiencies ("))
    assert lines[title + 1] == "strategy\tproject/feature\tmodel\tsavings (USD)"
    rows = {ln.split("\t")[0]: ln.split("\t") for ln in lines[2:] if "\t" in ln}
    assert rows["provider_arbitrage"][1:3] == [
        "internal-tools/sql-assistant",
        "mistral/mixtral-8x7b-instruct",
    ]
    assert not any("…" in ln for ln in lines)


def test_a_crash_traceback_is_plain_when_piped(tmp_path: Path) -> None:
    """Typer's pretty traceback is a Rich panel (and can show locals: secrets): not in a pipe."""
    env = {"TOKENOMIST_DATA_DIR": str(tmp_path), "TOKENOMIST_HEALTH_THRESHOLDS_MS": "{not json"}
    proc = tokenomist("db", "upgrade", env=env)
    assert proc.returncode != 0
    assert "╭" not in proc.stderr and "│" not in proc.stderr


def test_cli_messages_mask_the_password_of_a_url(tmp_path: Path) -> None:
    env = {"TOKENOMIST_URL": "http://ops:hunter22@127.0.0.1:9", "TOKENOMIST_EMAIL": "a@b.c",
           "TOKENOMIST_PASSWORD": "x", "TOKENOMIST_DATA_DIR": str(tmp_path)}  # fmt: skip
    proc = tokenomist("ask", "what did we spend?", env=env)
    assert proc.returncode == 1
    assert "no Tokenomist server at http://ops:***@127.0.0.1:9" in proc.stderr
    assert "hunter22" not in proc.stderr + proc.stdout
