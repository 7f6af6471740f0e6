"""The analytics tier on chDB: schema steps, org scoping in one place, parameters as data."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pytest

from tokenomist.kit.analytics import (
    SCHEMA_STEPS,
    USAGE_COLUMNS,
    USAGE_SCHEMA,
    ChdbAnalytics,
    ClickHouseAnalytics,
    DataDirBusy,
    OrgAnalytics,
    data_dir_holder,
    migrate,
)

CLICKHOUSE_URL = os.environ.get("TOKENOMIST_TEST_CLICKHOUSE_URL", "")


# The ClickHouse-server variant exists only where a server is configured: none can be had on
# the CI machine, so it is not collected there rather than skipped.
@pytest.fixture(params=["chdb", "clickhouse"] if CLICKHOUSE_URL else ["chdb"])
async def analytics(request, chdb_dir):
    """The analytics backend under test, in a database of this test's own."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "chdb":
        backend = ChdbAnalytics(chdb_dir, database=database)
    else:
        server = urlsplit(CLICKHOUSE_URL)
        backend = ClickHouseAnalytics(urlunsplit(server._replace(path=f"/{database}")))
    await backend.open()
    yield backend
    if request.param == "clickhouse":
        await backend.command(f"DROP DATABASE IF EXISTS {database}")
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


async def test_schema_steps_apply_once(analytics):
    assert await migrate(analytics) == [v for v, _, _ in SCHEMA_STEPS]
    assert await migrate(analytics) == []
    cols = await analytics.query(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'llm_usage'",
        {"db": analytics.database},
    )
    assert {"org_id", "request_id", "prefix_fingerprint", "cost_usd"} <= {c["name"] for c in cols}


async def test_the_migrated_table_has_exactly_the_defined_columns(analytics):
    """The shipped DDL is literal; USAGE_SCHEMA is what ingest derives its staging table, insert
    list and record schema from. They must describe the same table, column for column."""
    await migrate(analytics)
    cols = await analytics.query(
        "SELECT name, type FROM system.columns WHERE database = {db:String} "
        "AND table = 'llm_usage' ORDER BY position",
        {"db": analytics.database},
    )
    # LowCardinality is storage: the values written are still of the inner type.
    table = [(c["name"], re.sub(r"^LowCardinality\((.*)\)$", r"\1", c["type"])) for c in cols]
    assert table == [(c.name, c.type) for c in USAGE_SCHEMA]
    assert tuple(n for n, _ in table if n != "ingested_at") == USAGE_COLUMNS


async def test_org_scope_reads_only_that_org(analytics):
    await migrate(analytics)
    await analytics.insert_arrow("llm_usage", _rows("org-a", 3))
    await analytics.insert_arrow("llm_usage", _rows("org-b", 5))
    a = OrgAnalytics(analytics, "org-a")
    rows = await a.query("SELECT count() AS n, sum(cost_usd) AS usd FROM {usage}")
    assert rows == [{"n": 3, "usd": 1.5}]


async def test_reimported_request_ids_count_once(analytics):
    await migrate(analytics)
    await analytics.insert_arrow("llm_usage", _rows("org-a", 4))
    await analytics.insert_arrow("llm_usage", _rows("org-a", 4))  # same (org, request_id)
    rows = await OrgAnalytics(analytics, "org-a").query("SELECT count() AS n FROM {usage}")
    assert int(rows[0]["n"]) == 4


async def test_parameters_are_data_not_sql(analytics):
    await migrate(analytics)
    await analytics.insert_arrow("llm_usage", _rows("org-a", 2))
    hostile = "gpt-4o' OR 1=1 --"
    rows = await OrgAnalytics(analytics, "org-a").query(
        "SELECT count() AS n FROM {usage} WHERE model = {m:String}", {"m": hostile}
    )
    assert int(rows[0]["n"]) == 0


async def test_org_scope_refuses_unscoped_sql_and_rebinding(analytics):
    scoped = OrgAnalytics(analytics, "org-a")
    with pytest.raises(ValueError, match="must read from"):
        await scoped.query("SELECT count() FROM llm_usage")
    with pytest.raises(ValueError, match="bound by the org scope"):
        await scoped.query("SELECT count() FROM {usage}", {"org_id": "org-b"})
    with pytest.raises(ValueError, match="org_id is required"):
        OrgAnalytics(analytics, "")


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
async def test_string_parameters_round_trip_exactly(analytics, value):
    rows = await analytics.query("SELECT {v:String} AS v, length({v:String}) AS n", {"v": value})
    assert rows == [{"v": value, "n": len(value.encode())}]


def test_clickhouse_url_gives_connection_arguments():
    backend = ClickHouseAnalytics("https://reader:p%40ss@ch.internal:9443/usage_db", timeout_s=3)
    assert backend.database == "usage_db"
    assert backend.connect_args() == {
        "host": "ch.internal",
        "port": 9443,
        "username": "reader",
        "password": "p@ss",
        "secure": True,
        "connect_timeout": 3,
        "send_receive_timeout": 30.0,
    }
    defaults = ClickHouseAnalytics("http://ch")
    assert defaults.database == "tokenomist"
    assert defaults.connect_args()["port"] == 8123
    assert defaults.connect_args()["username"] == "default"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("clickhouse://ch:9000/db", "must use the HTTP interface"),
        ("tcp://ch:9000", "must use the HTTP interface"),
        ("http://ch:8123/usage;drop", "is not an identifier"),
    ],
)
def test_clickhouse_url_mistakes_are_named(url, message):
    with pytest.raises(ValueError, match=message):
        ClickHouseAnalytics(url)


async def test_unreachable_clickhouse_stops_startup_with_one_line(make_settings):
    from tests.support.servers import free_port
    from tokenomist.kit.resources import StartupError, open_resources

    port = free_port()
    settings = make_settings(
        clickhouse_url=f"http://default:s3cret@127.0.0.1:{port}/tk", startup_timeout_s=3
    )
    with pytest.raises(StartupError) as info:
        await open_resources(settings)
    line = str(info.value)
    assert line.startswith(
        f"startup failed: ClickHouse at http://default:***@127.0.0.1:{port}/tk unreachable: "
        "connection refused"
    ), line
    assert "s3cret" not in line


# -- chDB: parallel sessions and the memo of org reads ---------------------------------------


@pytest.fixture
async def chdb(chdb_dir):
    backend = ChdbAnalytics(chdb_dir, database=f"t_{uuid.uuid4().hex[:12]}", workers=2)
    await backend.open()
    await migrate(backend)
    yield backend
    await backend.close()


async def test_a_query_is_answered_while_another_occupies_a_worker(chdb):
    # One worker thread made every query wait for the one before it; with a pool, a short read
    # is answered while a long one is still running on the other session.
    long_query = asyncio.create_task(  # 3 s, whatever the machine's speed
        chdb.query("SELECT sum(sleepEachRow(1)) AS s FROM numbers(3)")
    )
    while not chdb._started:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    await chdb.insert_arrow("llm_usage", _rows("org-a", 3))
    rows = await OrgAnalytics(chdb, "org-a").query("SELECT count() AS n FROM {usage}")
    assert rows == [{"n": 3}]
    assert not long_query.done()
    long_query.cancel()  # the worker finishes it; close waits for it


async def test_a_repeated_read_is_answered_from_the_memo_until_the_org_gets_new_rows(chdb):
    await chdb.insert_arrow("llm_usage", _rows("org-a", 3))
    await chdb.insert_arrow("llm_usage", _rows("org-b", 2))
    a, b = OrgAnalytics(chdb, "org-a"), OrgAnalytics(chdb, "org-b")
    sql = "SELECT count() AS n, sum(cost_usd) AS usd FROM {usage} WHERE model = {m:String}"
    assert await a.query(sql, {"m": "gpt-4o"}) == [{"n": 3, "usd": 1.5}]
    assert (chdb.memo.hits, chdb.memo.misses) == (0, 1)
    first = await a.query(sql, {"m": "gpt-4o"})
    assert first == [{"n": 3, "usd": 1.5}]
    assert (chdb.memo.hits, chdb.memo.misses) == (1, 1)
    first[0]["n"] = 99  # each caller gets rows of its own
    assert await a.query(sql, {"m": "gpt-4o"}) == [{"n": 3, "usd": 1.5}]
    assert await a.query(sql, {"m": "other"}) == [{"n": 0, "usd": None}]  # other params: a miss
    assert await b.query(sql, {"m": "gpt-4o"}) == [{"n": 2, "usd": 1.0}]
    b_misses = chdb.memo.misses

    # New rows for org-a: its reads are answered afresh; org-b's stay memoised.
    await chdb.insert_arrow("llm_usage", _rows("org-a", 2, start=3))
    assert await a.query(sql, {"m": "gpt-4o"}) == [{"n": 5, "usd": 2.5}]
    assert await b.query(sql, {"m": "gpt-4o"}) == [{"n": 2, "usd": 1.0}]
    assert chdb.memo.misses == b_misses + 1
    arrow = await a.query_arrow("SELECT count() AS n FROM {usage}")
    assert arrow.column("n").to_pylist() == [5]

    # A statement that may change any org's rows (here a delete) invalidates every org.
    await chdb.command(
        "ALTER TABLE llm_usage DELETE WHERE request_id = 'r0' SETTINGS mutations_sync = 1"
    )
    assert await a.query(sql, {"m": "gpt-4o"}) == [{"n": 4, "usd": 2.0}]
    assert await b.query(sql, {"m": "gpt-4o"}) == [{"n": 1, "usd": 0.5}]
    assert (await a.query_arrow("SELECT count() AS n FROM {usage}")).column("n").to_pylist() == [4]


async def test_identical_reads_in_flight_run_once(chdb):
    await chdb.insert_arrow("llm_usage", _rows("org-a", 3))
    a = OrgAnalytics(chdb, "org-a")
    sql = "SELECT count() AS n FROM {usage} WHERE sleepEachRow(0.1) = 0"  # 0.3 s in flight
    results = await asyncio.gather(*(a.query(sql) for _ in range(4)))
    assert results == [[{"n": 3}]] * 4
    assert (chdb.memo.hits, chdb.memo.misses) == (3, 1)


async def test_another_backend_on_the_same_database_sees_the_writes_of_the_first(chdb):
    # Tests and embedded tools open several backends on one data dir: a write through one
    # must invalidate what the other memoised.
    other = ChdbAnalytics(chdb.path, database=chdb.database, workers=1)
    await other.open()
    try:
        await chdb.insert_arrow("llm_usage", _rows("org-a", 1))
        sql = "SELECT count() AS n FROM {usage}"
        assert await OrgAnalytics(other, "org-a").query(sql) == [{"n": 1}]
        await chdb.insert_arrow("llm_usage", _rows("org-a", 1, start=1))
        assert await OrgAnalytics(other, "org-a").query(sql) == [{"n": 2}]
    finally:
        await other.close()


async def test_memo_off_reads_every_time(chdb_dir):
    backend = ChdbAnalytics(chdb_dir, database=f"t_{uuid.uuid4().hex[:12]}", memo_bytes=0)
    await backend.open()
    try:
        await migrate(backend)
        assert backend.memo is None
        await backend.insert_arrow("llm_usage", _rows("org-a", 2))
        rows = await OrgAnalytics(backend, "org-a").query("SELECT count() AS n FROM {usage}")
        assert rows == [{"n": 2}]
    finally:
        await backend.close()


async def test_a_cancelled_reader_does_not_cancel_the_ones_waiting_on_its_read(chdb):
    await chdb.insert_arrow("llm_usage", _rows("org-a", 3))
    a = OrgAnalytics(chdb, "org-a")
    sql = "SELECT count() AS n FROM {usage} WHERE sleepEachRow(0.1) = 0"
    first = asyncio.create_task(a.query(sql))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(a.query(sql))  # waits on the first one's read
    await asyncio.sleep(0.05)
    first.cancel()
    assert await second == [{"n": 3}]
    assert first.cancelled()
