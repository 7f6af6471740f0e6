"""Usage queries against the analytics tier (chDB or a ClickHouse server, same SQL).

Writes are staged: a batch goes into its own short-lived table, and one ``INSERT ... SELECT``
moves the rows that are new for the org into ``llm_usage`` — the engine does the per-batch
de-duplication, the content-derived ids and the anti-join on ``(org_id, request_id)``, column
by column, on either backend.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tokenomist.kit.analytics import USAGE_TABLE, AnalyticsBackend, OrgAnalytics

# Columns a staged batch carries (llm_usage minus org_id/ingested_at, plus the source row).
_STAGE_DDL = """
    _row                Int64,
    timestamp           DateTime64(3, 'UTC'),
    provider            String,
    model               String,
    input_tokens        UInt64,
    output_tokens       UInt64,
    cached_input_tokens UInt64,
    cache_write_tokens  UInt64,
    reasoning_tokens    UInt64,
    latency_ms          Nullable(Float64),
    status              String,
    finish_reason       String,
    max_tokens          Nullable(UInt32),
    service_tier        String,
    request_id          String,
    project             String,
    feature             String,
    end_user            String,
    interactive         Nullable(Bool),
    request_fingerprint String,
    prefix_fingerprint  String,
    prefix_tokens       UInt64,
    cost_usd            Nullable(Float64),
    reported_cost_usd   Nullable(Float64),
    price_source        String,
    source              String,
    metadata            String
"""
STAGE_COLUMNS = tuple(
    line.split()[0] for line in _STAGE_DDL.strip().splitlines() if line.strip()
)  # fmt: skip
_STAGE_TYPES = {
    "_row": pa.int64(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "input_tokens": pa.uint64(),
    "output_tokens": pa.uint64(),
    "cached_input_tokens": pa.uint64(),
    "cache_write_tokens": pa.uint64(),
    "reasoning_tokens": pa.uint64(),
    "latency_ms": pa.float64(),
    "max_tokens": pa.uint32(),
    "interactive": pa.bool_(),
    "prefix_tokens": pa.uint64(),
    "cost_usd": pa.float64(),
    "reported_cost_usd": pa.float64(),
}
_NULLABLE = {"latency_ms", "max_tokens", "interactive", "cost_usd", "reported_cost_usd"}

# A record sent without request_id gets one derived from its content, so re-sending the same
# record is recognised as the same call.
_DERIVED_ID = """if(request_id != '', request_id, concat('auto-', lower(hex(sipHash128(
    toString(timestamp), provider, model, input_tokens, output_tokens, cached_input_tokens,
    cache_write_tokens, reasoning_tokens, status, finish_reason, service_tier, project, feature,
    end_user, request_fingerprint, prefix_fingerprint, prefix_tokens,
    ifNull(toString(latency_ms), ''), ifNull(toString(max_tokens), ''))))))"""

_INSERT_COLUMNS = (
    "org_id", "request_id", "timestamp", "provider", "model", "input_tokens", "output_tokens",
    "cached_input_tokens", "cache_write_tokens", "reasoning_tokens", "latency_ms", "status",
    "finish_reason", "max_tokens", "service_tier", "project", "feature", "end_user",
    "interactive", "request_fingerprint", "prefix_fingerprint", "prefix_tokens", "cost_usd",
    "reported_cost_usd", "price_source", "source", "metadata",
)  # fmt: skip


def to_stage_table(table: pa.Table, source: str) -> pa.Table:
    """Validated, priced rows → the staging column types (nulls → column defaults)."""
    n = table.num_rows
    cols = []
    for name in STAGE_COLUMNS:
        if name == "source":
            cols.append(pa.array([source] * n, pa.string()) if n else pa.array([], pa.string()))
            continue
        col = table.column(name)
        typ = _STAGE_TYPES.get(name, pa.string())
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


async def store(backend: AnalyticsBackend, org_id: str, stage: pa.Table) -> StoreResult:
    """Insert the staged rows that are new for this org; the rest are duplicates."""
    if stage.num_rows == 0:
        return StoreResult(0, 0, 0, 0.0)
    name = f"usage_stage_{uuid.uuid4().hex}"
    cols = ",\n".join(f"{c} {t}" for c, t in _stage_fields())
    await backend.command(f"CREATE TABLE {name} ({cols}) ENGINE = Memory")
    try:
        await backend.insert_arrow(name, stage)
        fresh = f"""
            SELECT * FROM (
                SELECT *, {_DERIVED_ID} AS rid FROM {name} ORDER BY _row LIMIT 1 BY rid
            )
            WHERE rid NOT IN (
                SELECT request_id FROM {USAGE_TABLE}
                WHERE org_id = {{org_id:String}}
                  AND request_id IN (SELECT {_DERIVED_ID} FROM {name})
            )
        """
        counts = await backend.query(
            f"SELECT count() AS n, countIf(cost_usd IS NULL) AS unpriced, "
            f"sum(ifNull(cost_usd, 0)) AS cost FROM ({fresh})",
            {"org_id": org_id},
        )
        row = counts[0]
        inserted = int(row["n"])
        if inserted:
            renamed = {"org_id": "{org_id:String}", "request_id": "rid"}
            select = ", ".join(renamed.get(c, c) for c in _INSERT_COLUMNS)
            await backend.command(
                f"INSERT INTO {USAGE_TABLE} ({', '.join(_INSERT_COLUMNS)}) "
                f"SELECT {select} FROM ({fresh})",
                {"org_id": org_id},
            )
        return StoreResult(
            inserted=inserted,
            duplicates=stage.num_rows - inserted,
            unpriced=int(row["unpriced"]),
            cost_usd=float(row["cost"] or 0.0),
        )
    finally:
        await backend.command(f"DROP TABLE IF EXISTS {name}")


def _stage_fields() -> list[tuple[str, str]]:
    out = []
    for line in _STAGE_DDL.strip().splitlines():
        line = line.strip().rstrip(",")
        if line:
            col, typ = line.split(None, 1)
            out.append((col, typ))
    return out


# -- summaries -------------------------------------------------------------------------------

GROUP_BY_EXPR = {
    "model": "u.model",
    "provider": "u.provider",
    "project": "u.project",
    "feature": "u.feature",
    "end_user": "u.end_user",
    "day": "toString(toDate(u.timestamp))",
}

_AGGREGATES = """
    count() AS requests,
    sum(u.input_tokens) AS input_tokens,
    sum(u.cached_input_tokens) AS cached_input_tokens,
    sum(u.output_tokens) AS output_tokens,
    if(count(u.cost_usd) = 0, NULL, sum(ifNull(u.cost_usd, 0))) AS cost_usd,
    countIf(u.cost_usd IS NULL) AS unpriced_requests
"""


def _window(start: datetime | None, end: datetime | None) -> tuple[str, dict[str, Any]]:
    clauses, params = ["1"], {}
    if start is not None:
        clauses.append("u.timestamp >= {start:DateTime64(3, 'UTC')}")
        params["start"] = start.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if end is not None:
        clauses.append("u.timestamp < {end:DateTime64(3, 'UTC')}")
        params["end"] = end.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return " AND ".join(clauses), params


async def summary_totals(
    usage: OrgAnalytics, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    where, params = _window(start, end)
    rows = await usage.query(f"SELECT {_AGGREGATES} FROM {{usage}} AS u WHERE {where}", params)
    return rows[0]


async def summary_groups(
    usage: OrgAnalytics, group_by: str, start: datetime | None, end: datetime | None
) -> list[dict[str, Any]]:
    expr = GROUP_BY_EXPR[group_by]  # a fixed expression chosen from a closed set
    where, params = _window(start, end)
    order = "key" if group_by == "day" else "cost_usd DESC, requests DESC, key"
    return await usage.query(
        f"SELECT {expr} AS key, {_AGGREGATES} FROM {{usage}} AS u WHERE {where} "
        f"GROUP BY key ORDER BY {order}",
        params,
    )
