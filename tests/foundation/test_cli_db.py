from __future__ import annotations

import os
import subprocess
import sys


def test_db_upgrade_creates_the_sqlite_schema(tmp_path):
    env = {**os.environ, "TOKENOMIST_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "tokenomist", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "database at the head revision" in out.stdout
    assert (tmp_path / "tokenomist.db").exists()


def test_db_upgrade_names_an_unreachable_database(tmp_path):
    env = {
        **os.environ,
        "TOKENOMIST_DATA_DIR": str(tmp_path),
        "TOKENOMIST_DATABASE_URL": "postgresql+asyncpg://u:pw@db.nonexistent.invalid:5432/x",
    }
    out = subprocess.run(
        [sys.executable, "-m", "tokenomist", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "SQL database at postgresql+asyncpg://u:***@db.nonexistent.invalid:5432/x unreachable: "
            "DNS lookup failed"
        )
    )
