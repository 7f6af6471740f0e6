"""Analytics tier: the ``llm_usage`` fact table on chDB (embedded) or a ClickHouse server.

Both backends take the same SQL with ClickHouse ``{name:Type}`` parameters; values are never
formatted into SQL. Org scoping lives in one place, ``OrgAnalytics``: a query written against
the placeholder ``{usage}`` reads only that org's rows.

chDB runs inside this process and blocks, so calls go through a bounded pool of worker
threads, each with its own chDB session on the one data dir (sessions share the engine's
catalogue and data; chDB documents a session per thread as the way to run queries in
parallel). One process owns its data dir (a lock file says which).

Org-scoped reads on chDB are memoised per org and data version (``QueryMemo``): every write to
``llm_usage`` through the backend bumps the version of the orgs it touched, so a repeated
question over unchanged data is answered from memory, and identical reads in flight at the same
time run once. Only chDB memoises: this process is the only writer of its data dir, so its
versions are authoritative; a ClickHouse server may be written by other instances.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import structlog

log = structlog.get_logger(__name__)

USAGE_TABLE = "llm_usage"

# Versioned schema steps: applied once each, in order, recorded in schema_migrations.
# Never edit a shipped step; append a new one.
SCHEMA_STEPS: list[tuple[int, str, str]] = [
    (
        1,
        "create llm_usage",
        f"""
        CREATE TABLE IF NOT EXISTS {USAGE_TABLE} (
            org_id              String,
            request_id          String,
            timestamp           DateTime64(3, 'UTC'),
            provider            LowCardinality(String),
            model               LowCardinality(String),
            input_tokens        UInt64,
            output_tokens       UInt64,
            cached_input_tokens UInt64 DEFAULT 0,
            cache_write_tokens  UInt64 DEFAULT 0,
            reasoning_tokens    UInt64 DEFAULT 0,
            latency_ms          Nullable(Float64),
            status              LowCardinality(String) DEFAULT 'success',
            finish_reason       LowCardinality(String) DEFAULT '',
            max_tokens          Nullable(UInt32),
            service_tier        LowCardinality(String) DEFAULT 'standard',
            project             LowCardinality(String) DEFAULT '',
            feature             LowCardinality(String) DEFAULT '',
            end_user            String DEFAULT '',
            interactive         Nullable(Bool),
            request_fingerprint String DEFAULT '',
            prefix_fingerprint  String DEFAULT '',
            prefix_tokens       UInt64 DEFAULT 0,
            cost_usd            Nullable(Float64),
            reported_cost_usd   Nullable(Float64),
            price_source        LowCardinality(String) DEFAULT '',
            source              LowCardinality(String) DEFAULT '',
            metadata            String DEFAULT '{{}}',
            ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3)
        )
        ENGINE = ReplacingMergeTree(ingested_at)
        ORDER BY (org_id, request_id)
        """,
    ),
]


@dataclass(frozen=True)
class UsageColumn:
    """One ``llm_usage`` column: its name, the ClickHouse type ingest writes it as (the table
    may store it ``LowCardinality`` and give it a ``DEFAULT``), and who supplies it."""

    name: str
    type: str
    # "record": parsed from the input; "ingest": added while ingesting (the org, our price,
    # the source); "engine": filled in by the table itself, never written.
    origin: Literal["record", "ingest", "engine"] = "record"

    @property
    def nullable(self) -> bool:
        return self.type.startswith("Nullable(")

    @property
    def arrow_type(self) -> pa.DataType:
        base = self.type.removeprefix("Nullable(").removesuffix(")") if self.nullable else self.type
        return _ARROW_TYPES[base]


_ARROW_TYPES = {
    "String": pa.string(),
    "UInt64": pa.uint64(),
    "UInt32": pa.uint32(),
    "Float64": pa.float64(),
    "Bool": pa.bool_(),
    "DateTime64(3, 'UTC')": pa.timestamp("ms", tz="UTC"),
}


# The one definition of the fact table's columns, in table order: ingest's staging table and
# insert list (usage.repository) and the parsed-record schema (usage.records) derive from it.
# SCHEMA_STEPS stays literal (a shipped step never changes); a test checks it matches.
USAGE_SCHEMA: tuple[UsageColumn, ...] = (
    UsageColumn("org_id", "String", "ingest"),
    UsageColumn("request_id", "String"),
    UsageColumn("timestamp", "DateTime64(3, 'UTC')"),
    UsageColumn("provider", "String"),
    UsageColumn("model", "String"),
    UsageColumn("input_tokens", "UInt64"),
    UsageColumn("output_tokens", "UInt64"),
    UsageColumn("cached_input_tokens", "UInt64"),
    UsageColumn("cache_write_tokens", "UInt64"),
    UsageColumn("reasoning_tokens", "UInt64"),
    UsageColumn("latency_ms", "Nullable(Float64)"),
    UsageColumn("status", "String"),
    UsageColumn("finish_reason", "String"),
    UsageColumn("max_tokens", "Nullable(UInt32)"),
    UsageColumn("service_tier", "String"),
    UsageColumn("project", "String"),
    UsageColumn("feature", "String"),
    UsageColumn("end_user", "String"),
    UsageColumn("interactive", "Nullable(Bool)"),
    UsageColumn("request_fingerprint", "String"),
    UsageColumn("prefix_fingerprint", "String"),
    UsageColumn("prefix_tokens", "UInt64"),
    UsageColumn("cost_usd", "Nullable(Float64)", "ingest"),
    UsageColumn("reported_cost_usd", "Nullable(Float64)"),
    UsageColumn("price_source", "String", "ingest"),
    UsageColumn("source", "String", "ingest"),
    UsageColumn("metadata", "String"),
    UsageColumn("ingested_at", "DateTime64(3, 'UTC')", "engine"),
)
# What ingest writes, in table order.
USAGE_COLUMNS: tuple[str, ...] = tuple(c.name for c in USAGE_SCHEMA if c.origin != "engine")

# Rows come back as JSON objects on both backends, 64-bit integers as numbers; DateTime
# values as "YYYY-MM-DD hh:mm:ss[.fff]" strings in UTC.
JSON_SETTINGS = {"output_format_json_quote_64bit_integers": 0}
_USAGE_PLACEHOLDER = "{usage}"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class AnalyticsBackend(Protocol):
    backend: str
    database: str

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict]: ...
    async def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table: ...
    async def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...
    async def insert_arrow(self, table: str, data: pa.Table) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class DataDirBusy(RuntimeError):
    """Another process holds the chDB data dir."""


def default_workers() -> int:
    """chDB worker threads when not configured: one per core, at most four (each query also
    uses the engine's own threads; more workers than cores only queue inside the engine)."""
    return max(1, min(4, os.cpu_count() or 1))


# Statements that may change llm_usage; any of them through the backend invalidates the memo.
_WRITES = re.compile(r"^\s*(insert|alter|delete|truncate|drop|optimize|rename|exchange)\b", re.I)


class ChdbAnalytics:
    backend = "chdb"

    def __init__(
        self,
        path: Path,
        database: str = "tokenomist",
        workers: int = 0,
        memo_bytes: int = 64 * 2**20,
    ) -> None:
        if not _IDENT.match(database):
            raise ValueError(f"analytics database name {database!r} is not a plain identifier")
        self.path = path.resolve()
        self.database = database
        self.workers = workers or default_workers()
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="chdb")
        self._local = threading.local()  # each worker thread's own session
        self._sessions: list[Any] = []
        self._sessions_lock = threading.Lock()
        self._open_done = False
        self._locked: Path | None = None
        self._started: list[float] = []  # start times of the work calls in flight or queued
        self.memo: QueryMemo | None = QueryMemo(memo_bytes) if memo_bytes > 0 else None

    @property
    def url(self) -> str:
        return f"chdb://{self.path}"

    @property
    def versions(self) -> DataVersions:
        return _data_versions(self.path, self.database)

    def _new_session(self) -> Any:
        from chdb import session as chdb_session

        session = chdb_session.Session(str(self.path))
        session.query(f"USE {self.database}")
        for name, value in JSON_SETTINGS.items():
            session.query(f"SET {name} = {value}")
        with self._sessions_lock:
            self._sessions.append(session)
        return session

    def _session(self) -> Any:
        """This worker thread's session, opened on its first call."""
        if not self._open_done:
            raise RuntimeError("chDB session is not open")
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._new_session()
        return session

    def _open(self) -> None:
        from chdb import session as chdb_session

        self.path.mkdir(parents=True, exist_ok=True)
        if not os.access(self.path, os.W_OK):
            raise PermissionError(f"chDB data dir {self.path} is not writable")
        self._locked = _lock_data_dir(self.path)
        bootstrap = chdb_session.Session(str(self.path))
        bootstrap.query(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        with self._sessions_lock:
            self._sessions.append(bootstrap)
        self._open_done = True
        self._local.session = bootstrap
        bootstrap.query(f"USE {self.database}")
        for name, value in JSON_SETTINGS.items():
            bootstrap.query(f"SET {name} = {value}")

    async def open(self) -> None:
        await self._run(self._open)

    async def _run(self, fn, *args, track: bool = True):
        loop = asyncio.get_running_loop()
        if not track:
            return await loop.run_in_executor(self._executor, fn, *args)
        started = time.monotonic()
        self._started.append(started)
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        finally:
            self._started.remove(started)

    def busy_detail(self) -> str | None:
        """Why a health ping may wait: chDB runs ``workers`` queries at a time, so a ping
        queues when every worker is taken. None while a worker is free."""
        n = len(self._started)
        if n < self.workers:
            return None
        return (
            f"chDB busy: {n} quer{'y' if n == 1 else 'ies'} ahead on {self.workers} "
            f"worker{'' if self.workers == 1 else 's'}, "
            f"the oldest running for {time.monotonic() - min(self._started):.1f}s"
        )

    def _query(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> Any:
        return self._session().query(sql, fmt, params=_chdb_params(params))

    async def _statement(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> Any:
        writes = bool(_WRITES.match(sql)) and USAGE_TABLE in sql
        if writes:
            self.versions.bump_all()
        try:
            return await self._run(self._query, sql, params, fmt)
        finally:
            if writes:
                self.versions.bump_all()

    async def query_bytes(self, sql: str, params: Mapping[str, Any] | None = None) -> bytes:
        """The rows as JSONEachRow text (what ``query`` parses)."""
        result = await self._statement(sql, params, "JSONEachRow")
        return bytes(result.bytes())

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        return _json_rows(await self.query_bytes(sql, params))

    async def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        return await self._statement(sql, params, "ArrowTable")

    async def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        await self._statement(sql, params, "CSV")

    def _insert_arrow(self, table: str, data: pa.Table) -> None:
        if not _IDENT.match(table):
            raise ValueError(f"table name {table!r} is not a plain identifier")
        cols = ", ".join(data.column_names)
        # chDB's Python() table function reads the local variable named in the SQL.
        arrow_data = data  # noqa: F841
        self._session().query(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM Python(arrow_data)")

    async def insert_arrow(self, table: str, data: pa.Table) -> None:
        if not data.num_rows:
            return
        if table != USAGE_TABLE:
            await self._run(self._insert_arrow, table, data)
            return
        # The versions move before (a read that starts during the insert is not kept under
        # the old version) and after (nor one that read half of it under the new one).
        orgs = _orgs_of(data)
        self.versions.bump(orgs)
        try:
            await self._run(self._insert_arrow, table, data)
        finally:
            self.versions.bump(orgs)

    async def ping(self) -> None:
        await self._run(self._query, "SELECT 1 AS ok", None, "CSV", track=False)

    async def close(self) -> None:
        def _close() -> None:
            with self._sessions_lock:
                sessions, self._sessions = self._sessions, []
            for session in sessions:
                session.close()
            self._open_done = False
            if self._locked is not None:
                _unlock_data_dir(self._locked)
                self._locked = None

        # Let the work in flight finish on its sessions, then close them all.
        await asyncio.to_thread(self._executor.shutdown, True)
        await asyncio.to_thread(_close)


def _orgs_of(data: pa.Table) -> list[str] | None:
    """The orgs an insert touches; None (every org) when the data does not say."""
    if "org_id" not in data.column_names:
        return None
    return [str(o) for o in pc.unique(data.column("org_id")).to_pylist()]


class DataVersions:
    """What the memo keys on: a counter per org, moved by every write to that org's usage, and
    an epoch moved by statements that may change any org's. Shared by every backend object on
    one data dir in this process (tests and embedded tools open several)."""

    def __init__(self) -> None:
        self._epoch = 0
        self._orgs: dict[str, int] = {}

    def of(self, org_id: str) -> tuple[int, int]:
        return self._epoch, self._orgs.get(org_id, 0)

    def bump(self, orgs: list[str] | None) -> None:
        if orgs is None:
            self.bump_all()
            return
        for org in orgs:
            self._orgs[org] = self._orgs.get(org, 0) + 1

    def bump_all(self) -> None:
        self._epoch += 1


_versions: dict[tuple[Path, str], DataVersions] = {}


def _data_versions(path: Path, database: str) -> DataVersions:
    return _versions.setdefault((path, database), DataVersions())


class QueryMemo:
    """Results of org-scoped reads, keyed by org, data version, SQL and parameters; least
    recently used out first, at most ``max_bytes`` of results. A read already in flight is
    awaited, not run again. A result whose data changed while it was read is not kept."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._flying: dict[tuple, asyncio.Future] = {}

    async def get(
        self,
        versions: DataVersions,
        org_id: str,
        key: tuple,
        run: Callable[[], Awaitable[Any]],
        size_of: Callable[[Any], int],
    ) -> Any:
        version = versions.of(org_id)
        full = (org_id, version, key)
        entry = self._entries.get(full)
        if entry is not None:
            self._entries.move_to_end(full)
            self.hits += 1
            return entry[0]
        flying = self._flying.get(full)
        if flying is not None:
            self.hits += 1
            try:
                return await asyncio.shield(flying)
            except asyncio.CancelledError:
                if not flying.cancelled():
                    raise  # this caller was cancelled
                # The caller running the read was cancelled, not this one: ask again.
                return await self.get(versions, org_id, key, run, size_of)
        self.misses += 1
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._flying[full] = future
        try:
            value = await run()
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved: a failure with no other waiter is not logged
            else:
                future.cancel()
            raise
        finally:
            self._flying.pop(full, None)
        future.set_result(value)
        if versions.of(org_id) == version:
            self._keep(full, value, size_of(value))
        return value

    def _keep(self, key: tuple, value: Any, size: int) -> None:
        if size > self.max_bytes // 8:
            return  # one huge result would push out everything else
        self._entries[key] = (value, size)
        self.size += size
        while self.size > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= dropped


def _params_key(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, type(v).__name__, repr(v)) for k, v in params.items()))


# flock excludes other processes; apps inside this process (tests, embedded tools) share the
# lock through this reference count.
_held_locks: dict[Path, list[int]] = {}


def _lock_data_dir(path: Path) -> Path:
    held = _held_locks.get(path)
    if held is not None:
        held[1] += 1
        return path
    fd = os.open(path / ".tokenomist.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirBusy(
            f"chDB data dir {path} is held by another process (a running tokenomist server?)"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    _held_locks[path] = [fd, 1]
    return path


def _unlock_data_dir(path: Path) -> None:
    held = _held_locks.get(path)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _held_locks[path]
        os.close(held[0])


def data_dir_holder(path: Path) -> int | None:
    """PID of the process holding the chDB data dir, or None when it is free."""
    lock = path / ".tokenomist.lock"
    if path.resolve() in _held_locks:
        return os.getpid()
    if not lock.exists():
        return None
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.pread(fd, 32, 0).decode().strip()
        return int(pid) if pid.isdigit() else -1
    finally:
        os.close(fd)
    return None


class ClickHouseAnalytics:
    """ClickHouse server over HTTP (clickhouse-connect), e.g. ``http://user:pw@host:8123/db``."""

    backend = "clickhouse"

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(
                f"TOKENOMIST_CLICKHOUSE_URL must use the HTTP interface (http:// or https://, "
                f"ports 8123/8443), not {parts.scheme or 'no scheme'}://"
            )
        self.database = (parts.path or "/").strip("/") or "tokenomist"
        if not _IDENT.match(self.database):
            raise ValueError(f"analytics database name {self.database!r} is not an identifier")
        self._parts = parts
        self._timeout_s = timeout_s
        self._client: Any = None

    def connect_args(self) -> dict[str, Any]:
        """clickhouse-connect arguments from the URL (database excluded: it may not exist yet)."""
        p = self._parts
        return dict(
            host=p.hostname or "localhost",
            port=p.port or (8443 if p.scheme == "https" else 8123),
            username=unquote(p.username) if p.username else "default",
            password=unquote(p.password) if p.password else "",
            secure=p.scheme == "https",
            connect_timeout=self._timeout_s,
            send_receive_timeout=max(30.0, self._timeout_s),
        )

    async def open(self) -> None:
        import clickhouse_connect

        common = self.connect_args()
        bootstrap = await clickhouse_connect.get_async_client(**common)
        await bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        await bootstrap.close()
        self._client = await clickhouse_connect.get_async_client(database=self.database, **common)

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        raw = await self._client.raw_query(
            sql, parameters=_params(params), settings=JSON_SETTINGS, fmt="JSONEachRow"
        )
        return _json_rows(raw)

    async def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        return await self._client.query_arrow(sql, parameters=_params(params))

    async def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        await self._client.command(sql, parameters=_params(params))

    async def insert_arrow(self, table: str, data: pa.Table) -> None:
        if data.num_rows:
            await self._client.insert_arrow(table, data)

    async def ping(self) -> None:
        await self.query("SELECT 1 AS ok")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


def _json_rows(raw: bytes) -> list[dict]:
    return [json.loads(line) for line in raw.splitlines() if line]


# chDB reads parameter values in ClickHouse's "escaped" text format (as the HTTP interface
# does), so a backslash or a tab inside a string would be decoded rather than kept.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _chdb_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        k: v.translate(_ESCAPES) if isinstance(v, str) else v for k, v in (params or {}).items()
    }


def _params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(params or {})


async def build_analytics(
    clickhouse_url: str,
    chdb_path: Path,
    database: str = "tokenomist",
    timeout_s: float = 5.0,
    workers: int = 0,
    memo_bytes: int = 64 * 2**20,
) -> ChdbAnalytics | ClickHouseAnalytics:
    backend: ChdbAnalytics | ClickHouseAnalytics
    if clickhouse_url:
        backend = ClickHouseAnalytics(clickhouse_url, timeout_s)
    else:
        backend = ChdbAnalytics(chdb_path, database, workers=workers, memo_bytes=memo_bytes)
    await backend.open()
    return backend


async def migrate(analytics: AnalyticsBackend) -> list[int]:
    """Apply the schema steps not yet recorded; return the versions applied now."""
    await analytics.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version"
    )
    done = {
        int(r["version"]) for r in await analytics.query("SELECT version FROM schema_migrations")
    }
    applied = []
    for version, name, ddl in SCHEMA_STEPS:
        if version in done:
            continue
        await analytics.command(ddl)
        await analytics.command(
            "INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
            {"v": version, "n": name},
        )
        applied.append(version)
        log.info("analytics.schema_step", version=version, name=name)
    return applied


class OrgAnalytics:
    """Usage queries for one org. Write SQL against ``{usage}``; it becomes a subquery of
    this org's deduplicated rows, with the org bound as a parameter (never formatted in)."""

    def __init__(self, backend: AnalyticsBackend, org_id: str) -> None:
        if not org_id:
            raise ValueError("org_id is required for usage queries")
        self.backend = backend
        self.org_id = org_id

    def _scope(self, sql: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
        if _USAGE_PLACEHOLDER not in sql:
            raise ValueError("org-scoped usage SQL must read from {usage}")
        bound = dict(params or {})
        if "org_id" in bound:
            raise ValueError("'org_id' is bound by the org scope; do not pass it")
        bound["org_id"] = self.org_id
        scoped = sql.replace(
            _USAGE_PLACEHOLDER,
            f"(SELECT * FROM {USAGE_TABLE} FINAL WHERE org_id = {{org_id:String}})",
        )
        return scoped, bound

    def _memo(self) -> tuple[QueryMemo, DataVersions] | None:
        backend = self.backend
        if isinstance(backend, ChdbAnalytics) and backend.memo is not None:
            return backend.memo, backend.versions
        return None

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        scoped, bound = self._scope(sql, params)
        memo = self._memo()
        if memo is None:
            return await self.backend.query(scoped, bound)
        backend = self.backend
        assert isinstance(backend, ChdbAnalytics)
        # The text is kept, not the parsed rows: every caller gets rows of its own to change.
        raw = await memo[0].get(
            memo[1],
            self.org_id,
            ("json", scoped, _params_key(bound)),
            lambda: backend.query_bytes(scoped, bound),
            len,
        )
        return _json_rows(raw)

    async def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        scoped, bound = self._scope(sql, params)
        memo = self._memo()
        if memo is None:
            return await self.backend.query_arrow(scoped, bound)
        return await memo[0].get(  # an Arrow table is immutable: it is shared as it is
            memo[1],
            self.org_id,
            ("arrow", scoped, _params_key(bound)),
            lambda: self.backend.query_arrow(scoped, bound),
            lambda t: int(t.nbytes),
        )
