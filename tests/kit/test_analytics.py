"""The analytics tier on chDB: schema steps, org scoping in one place, parameters as data."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tokenomist.kit.analytics import (
    SCHEMA_STEPS,
    ChdbAnalytics,
    DataDirBusy,
    OrgAnalytics,
    data_dir_holder,
    migrate,
)


@pytest.fixture
async def chdb(chdb_dir):
    backend = ChdbAnalytics(chdb_dir, database=f"t_{uuid.uuid4().hex[:12]}")
    await backend.open()
    yield backend
    await backend.close()


def _rows(org: str, n: int, model: str = "gpt-4o", start: int = 0) -> pa.Table:
    return pa.table(
        {
            "org_id": [org] * n,
            "request_id": [f"r{i}" for i in range(start, start + n)],
            "timestamp": pa.array(
                [datetime(2026, 11, 1, tzinfo=UTC)] * n, pa.timestamp("ms", "UTC")
            ),
            "provider": ["openai"] * n,
            "model": [model] * n,
            "input_tokens": pa.array([100] * n, pa.uint64()),
            "output_tokens": pa.array([10] * n, pa.uint64()),
            "cost_usd": pa.array([0.5] * n, pa.float64()),
        }
    )


async def test_schema_steps_apply_once(chdb):
    assert await migrate(chdb) == [v for v, _, _ in SCHEMA_STEPS]
    assert await migrate(chdb) == []
    cols = await chdb.query(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'llm_usage'",
        {"db": chdb.database},
    )
    assert {"org_id", "request_id", "prefix_fingerprint", "cost_usd"} <= {c["name"] for c in cols}


async def test_org_scope_reads_only_that_org(chdb):
    await migrate(chdb)
    await chdb.insert_arrow("llm_usage", _rows("org-a", 3))
    await chdb.insert_arrow("llm_usage", _rows("org-b", 5))
    a = OrgAnalytics(chdb, "org-a")
    rows = await a.query("SELECT count() AS n, sum(cost_usd) AS usd FROM {usage}")
    assert rows == [{"n": 3, "usd": 1.5}]


async def test_reimported_request_ids_count_once(chdb):
    await migrate(chdb)
    await chdb.insert_arrow("llm_usage", _rows("org-a", 4))
    await chdb.insert_arrow("llm_usage", _rows("org-a", 4))  # same (org, request_id)
    rows = await OrgAnalytics(chdb, "org-a").query("SELECT count() AS n FROM {usage}")
    assert int(rows[0]["n"]) == 4


async def test_parameters_are_data_not_sql(chdb):
    await migrate(chdb)
    await chdb.insert_arrow("llm_usage", _rows("org-a", 2))
    hostile = "gpt-4o' OR 1=1 --"
    rows = await OrgAnalytics(chdb, "org-a").query(
        "SELECT count() AS n FROM {usage} WHERE model = {m:String}", {"m": hostile}
    )
    assert int(rows[0]["n"]) == 0


async def test_org_scope_refuses_unscoped_sql_and_rebinding(chdb):
    scoped = OrgAnalytics(chdb, "org-a")
    with pytest.raises(ValueError, match="must read from"):
        await scoped.query("SELECT count() FROM llm_usage")
    with pytest.raises(ValueError, match="bound by the org scope"):
        await scoped.query("SELECT count() FROM {usage}", {"org_id": "org-b"})
    with pytest.raises(ValueError, match="org_id is required"):
        OrgAnalytics(chdb, "")


def test_another_process_cannot_take_a_held_data_dir(tmp_path):
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from tokenomist.kit.analytics import ChdbAnalytics\n"
        "async def main():\n"
        "    b = ChdbAnalytics(Path(sys.argv[1]))\n"
        "    await b.open()\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.readline()\n"
        "    await b.close()\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        assert data_dir_holder(tmp_path) == proc.pid
        # This process may not open it meanwhile.
        from tokenomist.kit.analytics import _lock_data_dir

        with pytest.raises(DataDirBusy, match="held by another process"):
            _lock_data_dir(tmp_path.resolve())
    finally:
        proc.communicate("\n", timeout=30)
    assert data_dir_holder(tmp_path) is None


@pytest.mark.parametrize("value", ["a\\tb", "tab\there", "line\nbreak", "it's", "back\\\\slash"])
async def test_string_parameters_round_trip_exactly(chdb, value):
    rows = await chdb.query("SELECT {v:String} AS v, length({v:String}) AS n", {"v": value})
    assert rows == [{"v": value, "n": len(value.encode())}]
