"""A database without the code's migrations, against real `tokenomist serve` processes: one
start-up line naming the fix, a `configuration` finding about the database (not a product
regression), whether start-up refused or the schema went missing under a running server."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.verify import options
from tokenomist.kit.migrations import head_revision
from tokenomist.verify.service import verify

pytestmark = pytest.mark.slow
UPGRADE = "run `tokenomist db upgrade`"


async def test_auto_migrate_off_on_an_empty_database_stops_start_up_with_the_upgrade_line(
    servers, empty_pg_url: str, tmp_path: Path
) -> None:
    env = {
        "TOKENOMIST_DATABASE_URL": empty_pg_url,
        "TOKENOMIST_AUTO_MIGRATE": "false",
        "TOKENOMIST_STARTUP_TIMEOUT_S": "60",
    }
    srv = servers(env, ready=False)
    assert srv.wait_exit(120) != 0
    out = srv.output()
    [line] = [ln for ln in out.splitlines() if "startup failed" in ln]
    want = f": database not migrated (at no revision, code needs {head_revision()}); {UPGRADE}"
    assert want in line, line
    assert "startup failed: PostgreSQL at postgresql+asyncpg://" in line
    # Not later, inside a domain's lifecycle query.
    assert "UPDATE runs" not in out and "UndefinedTable" not in out

    doc = await verify(options(srv.url, tmp_path, log_path=srv.log_path))
    [finding] = doc["findings"]
    assert (finding["subject"], finding["class"], finding["signature"]) == (
        "database",
        "configuration",
        "schema_not_migrated",
    )
    assert finding["cause"].startswith(f"Migrations not applied; {UPGRADE}")
    assert finding["affected"] == ["health.ready"]
    first = finding["whys"][0]["evidence"]
    assert first.startswith("log: ") and want in first, finding["whys"]
    assert (doc["decision"], doc["exit_code"]) == ("inconclusive", 3)


async def _drop_schema(url: str) -> None:
    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, database=u.database
    )
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


async def test_schema_dropped_under_a_running_server_is_one_schema_finding_about_the_database(
    servers, empty_pg_url: str, tmp_path: Path
) -> None:
    srv = servers({"TOKENOMIST_DATABASE_URL": empty_pg_url, "TOKENOMIST_STARTUP_TIMEOUT_S": "60"})
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
        before = (await client.get("/health/ready")).json()["checks"]["database"]
        await _drop_schema(empty_pg_url)
        resp = await client.get("/health/ready")
    head = head_revision()
    assert before["schema"] == {"current": head, "head": head}
    assert resp.status_code == 503
    db = resp.json()["checks"]["database"]
    assert db["status"] == "unhealthy" and db["schema"] == {"current": None, "head": head}
    assert db["error"] == {
        "kind": "schema",
        "message": f"database not migrated (at no revision, code needs {head}); {UPGRADE}",
    }

    doc = await verify(options(srv.url, tmp_path, log_path=srv.log_path))
    [finding] = [f for f in doc["findings"] if f["subject"] == "database"]
    assert (finding["class"], finding["signature"]) == ("configuration", "schema_not_migrated")
    first = finding["whys"][0]["evidence"]
    assert first.startswith('GET /health/ready → 503: checks.database.error = {"kind": "schema"')
    assert "database not migrated (at no revision" in first
    # Every 500 the missing tables caused joined this finding: no product regression.
    assert not [f for f in doc["findings"] if f["class"] == "product_regression"], doc["findings"]
    assert doc["decision"] == "no_go"
