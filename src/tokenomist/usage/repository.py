"""Usage queries against the analytics tier (chDB or a ClickHouse server, same SQL).

Writes are idempotent on ``(org_id, request_id)``: a batch's ids are looked up in one query
(the ids travel as an Arrow column into a short-lived table, never formatted into SQL), the
known ones and in-batch repeats are dropped column-wise, and the rest goes into ``llm_usage``
in one Arrow insert. Ids for records sent without one are derived by the engine from their
content, the same way on both backends. Across instances the look-up alone is a race (two can
both find an id new), so a shared SQL tier decides: ``claim_ids`` (see ``usage.models``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tokenomist.kit.analytics import (
    USAGE_COLUMNS,
    USAGE_SCHEMA,
    USAGE_TABLE,
    AnalyticsBackend,
    OrgAnalytics,
)

# Decides which of a batch's new ids this caller lands: returns the ids it won.
Claim = Callable[[pa.Array], Awaitable[pa.Array]]

# A staged batch carries what ingest writes except org_id (added at insert), plus the row it
# came from (``_row``, for error messages and first-wins de-duplication).
_STAGED = tuple(c for c in USAGE_SCHEMA if c.origin != "engine" and c.name != "org_id")
STAGE_COLUMNS = ("_row", *(c.name for c in _STAGED))
_STAGE_TYPES = {"_row": pa.int64(), **{c.name: c.arrow_type for c in _STAGED}}
_NULLABLE = {c.name for c in _STAGED if c.nullable}

# A record sent without request_id gets one derived from its content, so re-sending the same
# record is recognised as the same call.
_DERIVED_ID = """concat('auto-', lower(hex(sipHash128(
    toString(timestamp), provider, model, input_tokens, output_tokens, cached_input_tokens,
    cache_write_tokens, reasoning_tokens, status, finish_reason, service_tier, project, feature,
    end_user, request_fingerprint, prefix_fingerprint, prefix_tokens,
    ifNull(toString(latency_ms), ''), ifNull(toString(max_tokens), '')))))"""


def to_stage_table(table: pa.Table, source: str) -> pa.Table:
    """Validated, priced rows → the staging column types (nulls → column defaults)."""
    n = table.num_rows
    cols = []
    for name in STAGE_COLUMNS:
        if name == "source":
            cols.append(pa.array([source] * n, pa.string()) if n else pa.array([], pa.string()))
            continue
        col = table.column(name)
        typ = _STAGE_TYPES[name]
        if name not in _NULLABLE:
            if name == "metadata":
                col = pc.fill_null(col, "{}")
            elif typ == pa.string():
                col = pc.fill_null(col, "")
            elif pa.types.is_integer(typ):
                col = pc.fill_null(col, 0)
        cols.append(col.cast(typ))
    return pa.table(cols, names=list(STAGE_COLUMNS))


@dataclass
class StoreResult:
    inserted: int
    duplicates: int
    unpriced: int
    cost_usd: float


async def store(
    backend: AnalyticsBackend, org_id: str, stage: pa.Table, claim: Claim | None = None
) -> StoreResult:
    """Insert the rows that are new for this org; the rest are duplicates. With ``claim``, a
    row is new only if the claim grants its id (another instance may be landing it now)."""
    n = stage.num_rows
    if n == 0:
        return StoreResult(0, 0, 0, 0.0)
    stage = await _with_ids(backend, stage)
    ids = stage.column("request_id")
    # In-batch repeats: the first occurrence wins.
    if pc.count_distinct(ids).as_py() != n:
        first = stage.group_by("request_id", use_threads=False).aggregate([("_row", "min")])
        keep = pc.is_in(
            pc.binary_join_element_wise(ids, pc.cast(stage.column("_row"), pa.string()), "\x1f"),
            value_set=pc.binary_join_element_wise(
                first.column("request_id"), pc.cast(first.column("_row_min"), pa.string()), "\x1f"
            ),
        )
        stage = stage.filter(keep)
    known = await _known_ids(backend, org_id, stage.column("request_id"))
    if len(known):
        stage = stage.filter(pc.invert(pc.is_in(stage.column("request_id"), value_set=known)))
    if claim is not None and stage.num_rows:
        won = await claim(stage.column("request_id").combine_chunks())
        if len(won) != stage.num_rows:
            stage = stage.filter(pc.is_in(stage.column("request_id"), value_set=won))
    inserted = stage.num_rows
    cost = stage.column("cost_usd")
    if inserted:
        rows = stage.drop_columns(["_row"]).append_column(
            "org_id", pa.array([org_id] * inserted, pa.string())
        )
        await backend.insert_arrow(USAGE_TABLE, rows.select(list(USAGE_COLUMNS)))
    return StoreResult(
        inserted=inserted,
        duplicates=n - inserted,
        unpriced=cost.null_count,
        cost_usd=float(pc.sum(cost).as_py() or 0.0),
    )


async def _scratch(backend: AnalyticsBackend, columns: str, data: pa.Table) -> str:
    name = f"usage_scratch_{uuid.uuid4().hex}"
    await backend.command(f"CREATE TABLE {name} ({columns}) ENGINE = Memory")
    try:
        await backend.insert_arrow(name, data)
    except BaseException:
        await backend.command(f"DROP TABLE IF EXISTS {name}")
        raise
    return name


async def _with_ids(backend: AnalyticsBackend, stage: pa.Table) -> pa.Table:
    """Fill in the content-derived id of every row sent without one."""
    ids = stage.column("request_id")
    missing = pc.equal(ids, "")
    if not pc.any(missing).as_py():
        return stage
    # Number the rows needing an id 0..k-1 so the engine's answer maps straight back.
    needing = stage.filter(missing)
    k = needing.num_rows
    needing = needing.set_column(0, "_row", pa.array(np.arange(k, dtype=np.int64)))
    cols = ", ".join(f"{c} {t}" for c, t in _stage_fields())
    name = await _scratch(backend, cols, needing)
    try:
        derived = await backend.query_arrow(
            f"SELECT {_DERIVED_ID} AS rid FROM {name} ORDER BY _row"
        )
    finally:
        await backend.command(f"DROP TABLE IF EXISTS {name}")
    new_ids = ids.to_numpy(zero_copy_only=False).astype(object)
    new_ids[pc.indices_nonzero(missing).to_numpy()] = derived.column("rid").to_numpy(
        zero_copy_only=False
    )
    index = stage.schema.get_field_index("request_id")
    return stage.set_column(index, "request_id", pa.array(new_ids, pa.string()))


async def _known_ids(backend: AnalyticsBackend, org_id: str, ids: Any) -> pa.Array:
    """The ids of this batch the org already has."""
    name = await _scratch(backend, "request_id String", pa.table({"request_id": ids}))
    try:
        found = await backend.query_arrow(
            f"SELECT request_id FROM {USAGE_TABLE} WHERE org_id = {{org_id:String}} "
            f"AND request_id IN (SELECT request_id FROM {name})",
            {"org_id": org_id},
        )
    finally:
        await backend.command(f"DROP TABLE IF EXISTS {name}")
    return found.column("request_id").combine_chunks().cast(pa.string())


CLAIM_CHUNK = 50_000  # ids per statement: bounded parameter size, one round trip each


async def claim_ids(session: AsyncSession, org_id: str, ids: pa.Array) -> pa.Array:
    """Claim ``ids`` (distinct) for this org in the caller's PostgreSQL transaction; return
    those won. Ids are claimed in sorted order, so two batches sharing ids wait on each other
    instead of deadlocking; an id another open transaction holds blocks until that one ends."""
    ordered = sorted(ids.to_pylist())
    won: list[str] = []
    for start in range(0, len(ordered), CLAIM_CHUNK):
        result = await session.execute(
            text(
                "INSERT INTO usage_claims (org_id, request_id, claimed_at) "
                "SELECT :org_id, rid, now() FROM unnest(CAST(:ids AS text[])) AS rid "
                "ON CONFLICT DO NOTHING RETURNING request_id"
            ),
            {"org_id": org_id, "ids": ordered[start : start + CLAIM_CHUNK]},
        )
        won.extend(result.scalars().all())
    return pa.array(won, pa.string())


def _stage_fields() -> list[tuple[str, str]]:
    return [("_row", "Int64"), *((c.name, c.type) for c in _STAGED)]


# -- engine-side file reading ---------------------------------------------------------------

_CH_TYPES = {
    pa.int64(): "Int64",
    pa.float64(): "Float64",
    pa.bool_(): "Bool",
    pa.string(): "String",
    pa.timestamp("ms", tz="UTC"): "DateTime64(3, 'UTC')",
}


def _ndjson_schema() -> str:
    from tokenomist.usage.records import RAW_SCHEMA

    fields = []
    for f in RAW_SCHEMA:
        if f.name == "_row":
            continue
        name = "cost_usd" if f.name == "reported_cost_usd" else f.name
        fields.append(f"{name} Nullable({_CH_TYPES[f.type]})")
    # read (as JSON text) only to notice them: raw prompts need the row reader's hashing
    fields += ["prompt Nullable(String)", "prompt_prefix Nullable(String)"]
    return ", ".join(fields)


async def read_ndjson_file(backend: AnalyticsBackend, path: Path) -> pa.Table | None:
    """Let the embedded engine read a local canonical NDJSON file (parallel, typed) into
    Arrow, with each row's line number. None when it cannot: a server backend (the file is
    not on its host) or a file it refuses as a whole (a mistyped value, a broken line) — the
    caller then reads it row by row, which names each bad line."""
    if backend.backend != "chdb":
        return None
    try:
        table = await backend.query_arrow(
            "SELECT rowNumberInAllBlocks() + 1 AS _row, * "
            "FROM file({path:String}, 'JSONEachRow', {schema:String}) "
            "SETTINGS date_time_input_format = 'best_effort', "
            "input_format_json_read_objects_as_strings = 1, "
            "input_format_skip_unknown_fields = 1",
            {"path": str(path), "schema": _ndjson_schema()},
        )
    except Exception:  # the engine's parse error; the row reader will say where
        return None
    return table.rename_columns(
        ["reported_cost_usd" if c == "cost_usd" else c for c in table.column_names]
    )


# -- summaries -------------------------------------------------------------------------------
# Every expression below is a fixed string chosen from a closed set; user values (dates, filter
# values, top keys) only ever travel as bound parameters whose *names* we generate.

DIMENSIONS = ("model", "provider", "project", "feature", "end_user")
FILTER_COLUMNS = DIMENSIONS
GROUP_BY_EXPR = {
    "model": "u.model",
    "provider": "u.provider",
    "project": "u.project",
    "feature": "u.feature",
    "end_user": "u.end_user",
    "hour": "formatDateTime(toStartOfHour(u.timestamp), '%Y-%m-%dT%H:00:00Z')",
    "day": "toString(toDate(u.timestamp))",
    "week": "toString(toMonday(u.timestamp))",
    "month": "formatDateTime(u.timestamp, '%Y-%m')",
}
TIME_GROUPS = frozenset({"hour", "day", "week", "month"})
BUCKET_EXPR = {
    "hour": "formatDateTime(toStartOfHour(u.timestamp), '%Y-%m-%dT%H:00:00Z')",
    "day": "formatDateTime(toStartOfDay(u.timestamp), '%Y-%m-%dT00:00:00Z')",
    "week": "formatDateTime(toMonday(u.timestamp), '%Y-%m-%dT00:00:00Z')",
}

# cost_usd is NULL when the rows are all unpriced (unknown, never $0); no rows spent $0.
_AGGREGATES = """
    count() AS requests,
    sum(u.input_tokens) AS input_tokens,
    sum(u.cached_input_tokens) AS cached_input_tokens,
    sum(u.output_tokens) AS output_tokens,
    if(count() > 0 AND count(u.cost_usd) = 0, NULL, sum(ifNull(u.cost_usd, 0))) AS cost_usd,
    countIf(u.cost_usd IS NULL) AS unpriced_requests
"""


@dataclass(frozen=True)
class UsageFilter:
    """A window [start, end) and exact-match filters (a column → the values it may take)."""

    start: datetime | None = None
    end: datetime | None = None
    columns: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses, params = ["1"], {}
        if self.start is not None:
            clauses.append("u.timestamp >= {start:DateTime64(3, 'UTC')}")
            params["start"] = _ch_time(self.start)
        if self.end is not None:
            clauses.append("u.timestamp < {end:DateTime64(3, 'UTC')}")
            params["end"] = _ch_time(self.end)
        for column, values in self.columns:
            if column not in FILTER_COLUMNS:
                raise ValueError(f"not a filter column: {column!r}")
            if not values:
                continue
            names = [f"f_{column}_{i}" for i in range(len(values))]
            params.update(zip(names, values, strict=True))
            placeholders = ", ".join(f"{{{n}:String}}" for n in names)
            clauses.append(f"u.{column} IN ({placeholders})")
        return " AND ".join(clauses), params


def _ch_time(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond // 1000:03d}"


def _window(start: datetime | None, end: datetime | None) -> tuple[str, dict[str, Any]]:
    return UsageFilter(start, end).where()


async def summary_totals(
    usage: OrgAnalytics, start: datetime | None, end: datetime | None,
    where: UsageFilter | None = None,
) -> dict[str, Any]:  # fmt: skip
    sql_where, params = (where or UsageFilter(start, end)).where()
    rows = await usage.query(f"SELECT {_AGGREGATES} FROM {{usage}} AS u WHERE {sql_where}", params)
    return rows[0]


async def summary_groups(
    usage: OrgAnalytics, group_by: str | list[str], start: datetime | None,
    end: datetime | None, where: UsageFilter | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per group; with two dimensions the row has ``key_0`` and ``key_1``."""
    dims = [group_by] if isinstance(group_by, str) else list(group_by)
    exprs = [GROUP_BY_EXPR[d] for d in dims]  # KeyError for anything outside the closed set
    sql_where, params = (where or UsageFilter(start, end)).where()
    if len(dims) == 1:
        select, group = f"{exprs[0]} AS key", "key"
        keys = ["key"]
    else:
        select = ", ".join(f"{e} AS key_{i}" for i, e in enumerate(exprs))
        keys = [f"key_{i}" for i in range(len(dims))]
        group = ", ".join(keys)
    # Time keys read in time order; other keys biggest spend first.
    time_keys = [k for k, d in zip(keys, dims, strict=True) if d in TIME_GROUPS]
    order = ", ".join([*time_keys, "cost_usd DESC", "requests DESC", *keys])
    return await usage.query(
        f"SELECT {select}, {_AGGREGATES} FROM {{usage}} AS u WHERE {sql_where} "
        f"GROUP BY {group} ORDER BY {order}",
        params,
    )


async def data_window(usage: OrgAnalytics, where: UsageFilter) -> tuple[str, str] | None:
    """First and last timestamp of the matching rows, or None when there are none."""
    sql_where, params = where.where()
    rows = await usage.query(
        "SELECT count() AS n, toString(min(u.timestamp)) AS first, "
        f"toString(max(u.timestamp)) AS last FROM {{usage}} AS u WHERE {sql_where}",
        params,
    )
    return None if not rows or not int(rows[0]["n"]) else (rows[0]["first"], rows[0]["last"])


async def top_keys(usage: OrgAnalytics, dimension: str, where: UsageFilter, n: int) -> list[str]:
    """The ``n`` values of a dimension with the most spend (then requests) in the window."""
    expr = GROUP_BY_EXPR[dimension]
    sql_where, params = where.where()
    rows = await usage.query(
        f"SELECT {expr} AS key, sum(ifNull(u.cost_usd, 0)) AS cost, count() AS requests "
        f"FROM {{usage}} AS u WHERE {sql_where} GROUP BY key "
        "ORDER BY cost DESC, requests DESC, key LIMIT {top_n:UInt32}",
        {**params, "top_n": n},
    )
    return [str(r["key"]) for r in rows]


async def series_points(
    usage: OrgAnalytics, interval: str, dimension: str | None, top: list[str],
    where: UsageFilter,
) -> list[dict[str, Any]]:  # fmt: skip
    """Per (bucket, key) aggregates; rows whose key is not in ``top`` come back with
    ``in_top = 0`` and an empty key (the caller folds them into ``other``)."""
    bucket = BUCKET_EXPR[interval]
    sql_where, params = where.where()
    if dimension is None:
        key_sql = "'' AS key, 1 AS in_top"
    else:
        expr = GROUP_BY_EXPR[dimension]
        names = [f"top_{i}" for i in range(len(top))]
        params.update(zip(names, top, strict=True))
        member = f"{expr} IN ({', '.join(f'{{{n}:String}}' for n in names)})" if names else "0"
        key_sql = f"if({member}, {expr}, '') AS key, toUInt8({member}) AS in_top"
    return await usage.query(
        f"SELECT {bucket} AS t, {key_sql}, {_AGGREGATES} FROM {{usage}} AS u "
        f"WHERE {sql_where} GROUP BY t, key, in_top ORDER BY t",
        params,
    )


async def models_seen(usage: OrgAnalytics, where: UsageFilter) -> list[dict[str, Any]]:
    """Each (provider, model) with traffic in the window, priced or not."""
    sql_where, params = where.where()
    return await usage.query(
        f"SELECT u.provider AS provider, u.model AS model, {_AGGREGATES}, "
        "toString(min(u.timestamp)) AS first_seen, toString(max(u.timestamp)) AS last_seen "
        f"FROM {{usage}} AS u WHERE {sql_where} GROUP BY provider, model "
        "ORDER BY isNull(cost_usd), cost_usd DESC, requests DESC, provider, model",
        params,
    )


# -- reconciliation (reported cost beside ours) ----------------------------------------------

RECONCILE_GROUPS = ("model", "day")

# Only rows carrying a reported cost are compared, and our cost is summed over those same rows,
# so the two sums are comparable. Nullness is decided by the caller from the counts.
_RECONCILE_AGGREGATES = """
    count() AS requests,
    count(u.reported_cost_usd) AS reported_requests,
    countIf(u.cost_usd IS NULL) AS unpriced_requests,
    countIf(u.reported_cost_usd IS NOT NULL AND u.cost_usd IS NULL) AS reported_unpriced,
    sumIf(ifNull(u.cost_usd, 0), u.reported_cost_usd IS NOT NULL) AS computed_usd,
    sum(ifNull(u.reported_cost_usd, 0)) AS reported_usd,
    sumIf(u.cached_input_tokens, u.reported_cost_usd IS NOT NULL) AS cached_input_tokens,
    countIf(u.reported_cost_usd IS NOT NULL AND u.service_tier = 'batch') AS batch_requests
"""


async def reconciliation_rows(
    usage: OrgAnalytics, group_by: str | None, where: UsageFilter
) -> list[dict[str, Any]]:
    """Reported vs computed cost, one row per ``group_by`` key (time order for ``day``), or the
    one totals row without it."""
    sql_where, params = where.where()
    if group_by is None:
        return await usage.query(
            f"SELECT {_RECONCILE_AGGREGATES} FROM {{usage}} AS u WHERE {sql_where}", params
        )
    if group_by not in RECONCILE_GROUPS:
        raise ValueError(f"not a reconciliation group: {group_by!r}")
    order = "key" if group_by == "day" else "reported_usd DESC, requests DESC, key"
    return await usage.query(
        f"SELECT {GROUP_BY_EXPR[group_by]} AS key, {_RECONCILE_AGGREGATES} FROM {{usage}} AS u "
        f"WHERE {sql_where} GROUP BY key ORDER BY {order}",
        params,
    )
