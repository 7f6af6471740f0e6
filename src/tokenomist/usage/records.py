"""Canonical usage records as Arrow columns: coercion and pricing, column-wise.

Every format parses into ``RAW_SCHEMA`` (one row per LLM call, ``_row`` = the line or index the
row came from, for error messages). ``usage.validation.validate`` drops the rows that break a
rule and says why; ``price`` adds ``cost_usd`` and ``price_source`` per (provider, model, tier)
group using unit prices, so a million rows cost a handful of price lookups, not a million.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tokenomist.kit.analytics import USAGE_SCHEMA
from tokenomist.kit.hygiene import DATE_RANGE_TEXT
from tokenomist.usage.pricing import Pricer

MAX_TOKENS_PER_CALL = 10_000_000  # above this a token count is a unit mistake, not a call
MAX_FUTURE = timedelta(days=1)  # clock skew allowance
EARLIEST = datetime(2015, 1, 1, tzinfo=UTC)
MAX_ID_LEN = 256
MAX_LABEL_LEN = 256
NUL_MESSAGE = "must not contain a NUL character (U+0000)"
TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "prefix_tokens",
    "max_tokens",
)
STRING_FIELDS = (
    "provider",
    "model",
    "status",
    "finish_reason",
    "service_tier",
    "request_id",
    "project",
    "feature",
    "end_user",
    "request_fingerprint",
    "prefix_fingerprint",
    "metadata",
)

# What a format produces: the llm_usage columns a record carries, integers as signed 64-bit (so
# validation can name a negative count instead of the cast failing), plus the source row.
RAW_SCHEMA = pa.schema(
    [("_row", pa.int64())]
    + [
        (c.name, pa.int64() if pa.types.is_integer(c.arrow_type) else c.arrow_type)
        for c in USAGE_SCHEMA
        if c.origin == "record"
    ]
)


@dataclass
class RowError:
    index: int  # 0-based record index, or 1-based line number for line formats
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


@dataclass
class Parsed:
    """What a format produced: rows in RAW_SCHEMA plus the rows it could not read."""

    table: pa.Table
    errors: list[RowError] = field(default_factory=list)
    total: int = 0  # rows seen (valid or not)
    # Rows left out on purpose, not in error (e.g. OTLP spans without GenAI usage): reason
    # code → count. Each format's docstring says which reasons it has.
    skipped: dict[str, int] = field(default_factory=dict)


class RowInvalid(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


# -- row-wise coercion (for JSON records, OTel spans, exports: anything not read by Arrow) ------
# Formats map their own fields with these: ``as_int("prompt_tokens", row.get("prompt_tokens"))``
# gives the value or raises RowInvalid naming the field, which becomes that row's error.


def parse_timestamp(value: Any) -> datetime:
    """ISO-8601 (``Z`` or an offset; naive = UTC) or epoch seconds/milliseconds."""
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, bool):
        raise RowInvalid("timestamp", "must be an ISO-8601 string or epoch seconds")
    elif isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value  # epoch ms vs s
        try:
            ts = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise RowInvalid("timestamp", f"epoch value {value!r} is out of range") from exc
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            ts = datetime.fromisoformat(text)
        except ValueError as exc:
            raise RowInvalid("timestamp", f"{value!r} is not an ISO-8601 timestamp") from exc
    else:
        raise RowInvalid("timestamp", "is required")
    try:
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:00-05:00 is past what datetime holds once in UTC. Dates that convert
        # meet validate()'s window (2015 to tomorrow), inside kit.hygiene's 1970-2200.
        raise RowInvalid("timestamp", f"must be {DATE_RANGE_TEXT}, got {value!r}") from None


_INT64 = range(-(2**63), 2**63)


def as_int(name: str, value: Any) -> int | None:
    """An integer field; one that does not fit the 64-bit column is this row's error (else
    building the batch's columns would fail and take the valid rows down with it)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RowInvalid(name, f"must be an integer, got {value!r}")
    out: int | None = None
    if isinstance(value, int):
        out = value
    elif isinstance(value, float) and value.is_integer():
        out = int(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            out = int(value.strip())
    if out is None:
        raise RowInvalid(name, f"must be an integer, got {value!r}")
    if out not in _INT64:
        raise RowInvalid(name, f"is out of range, got {value!r}")
    return out


def as_float(name: str, value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RowInvalid(name, f"must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise RowInvalid(name, f"must be a number, got {value!r}") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise RowInvalid(name, f"must be a finite number, got {value!r}")
    return out


def as_bool(name: str, value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise RowInvalid(name, f"must be true or false, got {value!r}")


def as_str(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise RowInvalid(name, f"must be a string, got {type(value).__name__}")


_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical_bytes(parts: Any) -> bytes:
    """Request content as stable bytes to hash and to size: sorted-key JSON, a value JSON has
    no type for (bytes, a set — a producer's attribute decoded as a Python literal can hold
    them) by its repr; content JSON cannot hold at all (an integer past 64 bits, a tuple key)
    as the repr of the whole. Any content a producer sends has a fingerprint, never an error."""
    try:
        return orjson.dumps(parts, default=repr, option=_CANONICAL)
    except TypeError:  # orjson.JSONEncodeError
        return repr(parts).encode()


def fingerprint(*parts: Any) -> str:
    """A stable hash of request content (raw prompts are hashed, never stored)."""
    return hashlib.sha256(canonical_bytes(parts)).hexdigest()[:32]


def coerce_record(rec: Any) -> dict[str, Any]:
    """One canonical record (a JSON object) → a RAW_SCHEMA row; raises RowInvalid."""
    if not isinstance(rec, dict):
        raise RowInvalid("", f"a record must be a JSON object, got {type(rec).__name__}")
    row: dict[str, Any] = {"timestamp": parse_timestamp(rec.get("timestamp"))}
    for name in TOKEN_FIELDS:
        row[name] = as_int(name, rec.get(name))
    row["latency_ms"] = as_float("latency_ms", rec.get("latency_ms"))
    row["reported_cost_usd"] = as_float("cost_usd", rec.get("cost_usd"))
    row["interactive"] = as_bool("interactive", rec.get("interactive"))
    for name in STRING_FIELDS:
        if name != "metadata":
            row[name] = as_str(name, rec.get(name))
    meta = rec.get("metadata")
    if meta is None:
        row["metadata"] = None
    elif isinstance(meta, dict):
        row["metadata"] = orjson.dumps(meta).decode()
    elif isinstance(meta, str):
        row["metadata"] = meta
    else:
        raise RowInvalid("metadata", f"must be an object, got {type(meta).__name__}")
    # Raw prompt content, if a client sends it, only feeds the fingerprints.
    if rec.get("prompt") is not None and not row["request_fingerprint"]:
        row["request_fingerprint"] = fingerprint(row["model"], rec["prompt"])
    if rec.get("prompt_prefix") is not None and not row["prefix_fingerprint"]:
        row["prefix_fingerprint"] = fingerprint(row["model"], rec["prompt_prefix"])
    return row


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    columns = {name: [r.get(name) for r in rows] for name in RAW_SCHEMA.names}
    return pa.table(columns, schema=RAW_SCHEMA)


def records_to_parsed(records: Iterable[Any], *, first_index: int = 0) -> Parsed:
    """Coerce canonical records one by one (errors carry each record's index)."""
    rows, errors, total = [], [], 0
    for i, rec in enumerate(records, start=first_index):
        total += 1
        try:
            row = coerce_record(rec)
        except RowInvalid as exc:
            errors.append(RowError(i, exc.field, exc.message))
            continue
        row["_row"] = i
        rows.append(row)
    return Parsed(rows_to_table(rows), errors, total)


def conform(table: pa.Table) -> pa.Table:
    """Add missing RAW_SCHEMA columns as nulls and cast present ones, in schema order."""
    n = table.num_rows
    cols = []
    for f in RAW_SCHEMA:
        if f.name in table.column_names:
            col = table.column(f.name)
            cols.append(col if col.type == f.type else pc.cast(col, f.type, safe=f.name == "_row"))
        else:
            cols.append(pa.nulls(n, f.type))
    return pa.table(cols, schema=RAW_SCHEMA)


# -- column-wise pricing -----------------------------------------------------------------------


def _groups(table: pa.Table) -> tuple[Any, Callable[[int], tuple[str, str, str]]]:
    """Each row's (provider, model, tier) group as one integer, and the names of a group."""
    n = table.num_rows
    codes, labels = [], []
    for name, fn in (("provider", None), ("model", pc.utf8_lower), ("service_tier", None)):
        col = table.column(name)
        encoded = pc.dictionary_encode(col.combine_chunks() if n else pa.array([], pa.string()))
        labels.append(encoded.dictionary if fn is None else fn(encoded.dictionary))
        codes.append(pc.cast(pc.fill_null(encoded.indices, 0), pa.int64()))
    n_model, n_tier = max(len(labels[1]), 1), max(len(labels[2]), 1)
    group = pc.add(pc.multiply(pc.add(pc.multiply(codes[0], n_model), codes[1]), n_tier), codes[2])
    names = [lab.to_pylist() for lab in labels]

    def group_name(g: int) -> tuple[str, str, str]:
        return (
            names[0][g // (n_model * n_tier)],
            names[1][(g // n_tier) % n_model],
            names[2][g % n_tier],
        )

    return group, group_name


def _price_keys(table: pa.Table, group: Any, granularity: dict[int, str | None]) -> Any:
    """Group and time bucket per row: ``group << 32 | bucket``, where the bucket says which
    day/minute's price a row needs (0: the group's only price)."""
    key = pc.multiply(group, 1 << 32)
    if any(granularity.values()):
        millis = pc.cast(pc.cast(table.column("timestamp"), pa.timestamp("ms")), pa.int64())
        spans = {"day": 86_400_000, "minute": 60_000}
        bucket = pa.array(np.zeros(table.num_rows, dtype=np.int64))
        for gran, span in spans.items():
            chosen = [g for g, v in granularity.items() if v == gran]
            if chosen:
                mask = pc.is_in(group, value_set=pa.array(chosen, pa.int64()))
                bucket = pc.if_else(mask, pc.add(pc.divide(millis, span), 1), bucket)
        key = pc.add(key, bucket)
    return key


def _unit_prices_per_key(
    keys: list[int],
    granularity: dict[int, str | None],
    group_name: Callable[[int], tuple[str, str, str]],
    pricer: Pricer,
) -> list[Any]:
    per_group = []
    for k in keys:
        g, b = divmod(k, 1 << 32)
        fineness = granularity[g]
        when: datetime | None = None
        if b and fineness:
            span = 86_400_000 if fineness == "day" else 60_000
            when = datetime.fromtimestamp((b - 1) * span / 1000, tz=UTC)
        per_group.append(pricer.unit_prices(*group_name(g), when))
    return per_group


def _costs(table: pa.Table, slot: Any, per_group: list[Any]) -> Any:
    """Each row's cost at its slot's unit prices, long-context tiers applied by threshold."""
    inp = pc.cast(table.column("input_tokens"), pa.float64())
    cached = pc.cast(pc.fill_null(table.column("cached_input_tokens"), 0), pa.float64())
    write = pc.cast(pc.fill_null(table.column("cache_write_tokens"), 0), pa.float64())
    out = pc.cast(table.column("output_tokens"), pa.float64())
    uncached = pc.subtract(pc.subtract(inp, cached), write)

    def cost_with(prices: list[Any]) -> Any:
        def col(attr: str) -> Any:
            values = [getattr(p, attr) if p else None for p in prices]
            return pc.take(pa.array(values, pa.float64()), slot)

        total = pc.add(
            pc.add(
                pc.multiply(uncached, col("input_mtok")),
                pc.multiply(cached, col("cached_input_mtok")),
            ),
            pc.add(
                pc.multiply(write, col("cache_write_mtok")),
                pc.multiply(out, col("output_mtok")),
            ),
        )
        return pc.add(pc.divide(total, 1_000_000.0), col("request_usd"))

    cost = cost_with(per_group)
    # Long-context tiers: the price of every token changes once input_tokens passes a threshold.
    thresholds = sorted({t for p in per_group if p for t, _ in p.tiers})
    for threshold in thresholds:
        above = [dict(p.tiers).get(threshold) if p else None for p in per_group]
        alt = cost_with(above)
        use = pc.and_kleene(pc.greater(table.column("input_tokens"), threshold), pc.is_valid(alt))
        cost = pc.if_else(use, alt, cost)
    return cost


def price(table: pa.Table, pricer: Pricer) -> pa.Table:
    """Add ``cost_usd`` (null = unpriced) and ``price_source`` columns.

    One price lookup per (provider, model, tier) group — per group and day, or minute, for the
    few models whose price depends on the request time — and long-context tiers applied per
    row by threshold. No per-row Python: rows find their group's prices through integer keys."""
    group, group_name = _groups(table)
    groups = pc.unique(group).to_pylist()
    granularity = {g: pricer.time_granularity(*group_name(g)) for g in groups}
    key = _price_keys(table, group, granularity)
    uniques = pc.unique(key).to_pylist()
    slot = pc.index_in(key, value_set=pa.array(uniques, pa.int64()))
    per_group = _unit_prices_per_key(uniques, granularity, group_name, pricer)
    cost = _costs(table, slot, per_group)
    unknown = f"unpriced: not in {pricer.snapshot}"
    sources = [p.source if p else unknown for p in per_group]
    source = pc.take(pa.array(sources, pa.string()), slot)
    return table.append_column("cost_usd", cost).append_column("price_source", source)
