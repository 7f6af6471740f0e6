"""Column-wise validation of usage records in ``RAW_SCHEMA``.

``validate`` drops the rows that break a rule and says why (each dropped row's first broken
rule, rules checked in a fixed order), and normalises provider, model, status, tier and
finish reason on the rows it keeps. The rules come in families, one helper each.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tokenomist.usage.pricing import PROVIDER_ALIASES, SERVICE_TIERS
from tokenomist.usage.records import (
    EARLIEST,
    MAX_FUTURE,
    MAX_ID_LEN,
    MAX_LABEL_LEN,
    MAX_TOKENS_PER_CALL,
    NUL_MESSAGE,
    STRING_FIELDS,
    TOKEN_FIELDS,
    RowError,
    conform,
)


def _by_value(col: Any, fn) -> Any:
    """Apply a string transform once per distinct value (provider, model, status... have few),
    then spread it back to the rows: far cheaper than transforming a million strings."""
    whole = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    encoded = pc.dictionary_encode(whole, null_encoding="encode")
    return pc.take(fn(encoded.dictionary), encoded.indices)


def _normalise_provider(values: pa.Array) -> pa.Array:
    names = pc.utf8_lower(pc.utf8_trim_whitespace(values)).to_pylist()
    # Typed: a batch where no row names a provider would otherwise infer a null column, and
    # the rows kept beside the errors would no longer be RAW_SCHEMA.
    return pa.array(
        [PROVIDER_ALIASES.get(v, v) if v is not None else None for v in names], pa.string()
    )


def _normalise_status(values: pa.Array) -> pa.Array:
    out = []
    for v in pc.utf8_lower(pc.utf8_trim_whitespace(values)).to_pylist():
        v = "success" if v in (None, "", "ok", "succeeded") else v
        out.append("error" if v in ("failed", "failure") else v)
    return pa.array(out, pa.string())


def _normalise_tier(values: pa.Array) -> pa.Array:
    out = []
    for v in pc.utf8_lower(pc.utf8_trim_whitespace(values)).to_pylist():
        out.append("standard" if v in (None, "", "default", "auto", "on_demand") else v)
    return pa.array(out, pa.string())


class _Rules:
    """The rows broken so far and, for each, the first rule it broke."""

    def __init__(self, table: pa.Table) -> None:
        self.bad = pa.array([False] * table.num_rows)
        self.errors: dict[int, RowError] = {}
        self.rows = table.column("_row")

    def rule(self, mask: pa.ChunkedArray | pa.Array, field_name: str, message: str) -> None:
        mask = pc.fill_null(mask, False)
        new = pc.and_kleene(mask, pc.invert(self.bad))
        if pc.any(new).as_py():
            for idx in pc.indices_nonzero(new).to_pylist():
                self.errors[idx] = RowError(self.rows[idx].as_py(), field_name, message)
            self.bad = pc.or_kleene(self.bad, mask)


def _timestamp_rules(r: _Rules, table: pa.Table, now: datetime) -> None:
    ts = table.column("timestamp")
    r.rule(pc.is_null(ts), "timestamp", "is required")
    r.rule(
        pc.greater(ts, pa.scalar(now + MAX_FUTURE, pa.timestamp("ms", tz="UTC"))),
        "timestamp",
        "is in the future (more than a day ahead of the server clock)",
    )
    r.rule(
        pc.less(ts, pa.scalar(EARLIEST, pa.timestamp("ms", tz="UTC"))),
        "timestamp",
        "is before 2015-01-01",
    )


def _identity_rules(r: _Rules, table: pa.Table) -> None:
    # A NUL is never part of a label, and labels flow into the reports and messages the SQL
    # tier stores (PostgreSQL text cannot hold U+0000): such a row is refused, the rest kept.
    for name in STRING_FIELDS:
        r.rule(pc.match_substring(table.column(name), "\x00"), name, NUL_MESSAGE)
    for name in ("provider", "model"):
        col = _by_value(table.column(name), pc.utf8_trim_whitespace)
        r.rule(pc.or_kleene(pc.is_null(col), pc.equal(col, "")), name, "is required")
        r.rule(
            pc.greater(pc.utf8_length(col), MAX_LABEL_LEN), name, "is longer than 256 characters"
        )


def _token_rules(r: _Rules, table: pa.Table) -> None:
    for name in ("input_tokens", "output_tokens"):
        r.rule(pc.is_null(table.column(name)), name, "is required")
    for name in TOKEN_FIELDS:
        col = table.column(name)
        r.rule(pc.less(col, 0), name, "must not be negative")
        r.rule(
            pc.greater(col, MAX_TOKENS_PER_CALL),
            name,
            f"is not a plausible token count for one call (> {MAX_TOKENS_PER_CALL:,})",
        )


def _token_consistency_rules(r: _Rules, table: pa.Table) -> None:
    """Parts of a count never exceed the count they are part of."""
    inp = table.column("input_tokens")
    cached = pc.fill_null(table.column("cached_input_tokens"), 0)
    written = pc.fill_null(table.column("cache_write_tokens"), 0)
    r.rule(
        pc.greater(pc.add(cached, written), inp),
        "cached_input_tokens",
        "cached + cache-write tokens exceed input_tokens (input_tokens includes them)",
    )
    r.rule(
        pc.greater(pc.fill_null(table.column("prefix_tokens"), 0), inp),
        "prefix_tokens",
        "exceed input_tokens (the prefix is part of the prompt)",
    )
    r.rule(
        pc.greater(
            pc.fill_null(table.column("reasoning_tokens"), 0), table.column("output_tokens")
        ),
        "reasoning_tokens",
        "exceed output_tokens (output_tokens includes them)",
    )


def _measurement_rules(r: _Rules, table: pa.Table) -> None:
    lat = table.column("latency_ms")
    r.rule(
        pc.or_kleene(pc.less(lat, 0), pc.greater(lat, 86_400_000)),
        "latency_ms",
        "must be between 0 and one day",
    )
    cost = table.column("reported_cost_usd")
    r.rule(
        pc.or_kleene(pc.less(cost, 0), pc.greater(cost, 1_000_000)),
        "cost_usd",
        "must be between 0 and 1,000,000",
    )


def _enum_rules(r: _Rules, table: pa.Table) -> tuple[Any, Any]:
    """Status and service tier must be known values once normalised; returns both normalised."""
    status = _by_value(table.column("status"), _normalise_status)
    r.rule(
        pc.invert(pc.is_in(status, pa.array(["success", "error"]))),
        "status",
        "must be 'success' or 'error'",
    )
    tier = _by_value(table.column("service_tier"), _normalise_tier)
    r.rule(
        pc.invert(pc.is_in(tier, pa.array(SERVICE_TIERS))),
        "service_tier",
        f"must be one of {', '.join(SERVICE_TIERS)}",
    )
    return status, tier


def _label_rules(r: _Rules, table: pa.Table) -> None:
    rid = table.column("request_id")
    r.rule(
        pc.greater(pc.utf8_length(rid), MAX_ID_LEN), "request_id", "is longer than 256 characters"
    )
    r.rule(
        pc.match_substring_regex(rid, r"[\x00-\x1f]"), "request_id", "contains control characters"
    )
    for name in ("project", "feature", "end_user", "finish_reason"):
        r.rule(
            pc.greater(pc.utf8_length(table.column(name)), MAX_LABEL_LEN),
            name,
            "is longer than 256 characters",
        )


def _normalised(table: pa.Table, status: Any, tier: Any) -> pa.Table:
    provider = _by_value(table.column("provider"), _normalise_provider)
    return (
        table.set_column(table.schema.get_field_index("provider"), "provider", provider)
        .set_column(
            table.schema.get_field_index("model"),
            "model",
            _by_value(table.column("model"), pc.utf8_trim_whitespace),
        )
        .set_column(table.schema.get_field_index("status"), "status", status)
        .set_column(table.schema.get_field_index("service_tier"), "service_tier", tier)
        .set_column(
            table.schema.get_field_index("finish_reason"),
            "finish_reason",
            _by_value(pc.fill_null(table.column("finish_reason"), ""), pc.utf8_lower),
        )
    )


def validate(table: pa.Table, *, now: datetime | None = None) -> tuple[pa.Table, list[RowError]]:
    """Drop rows that break a rule; return the kept rows (normalised) and one error per
    dropped row (its first broken rule)."""
    table = conform(table)
    now = now or datetime.now(UTC)
    if table.num_rows == 0:
        return table, []
    r = _Rules(table)
    _timestamp_rules(r, table, now)
    _identity_rules(r, table)
    _token_rules(r, table)
    _token_consistency_rules(r, table)
    _measurement_rules(r, table)
    status, tier = _enum_rules(r, table)
    _label_rules(r, table)
    table = _normalised(table, status, tier)
    kept = table.filter(pc.invert(r.bad)) if r.errors else table
    return kept, [r.errors[i] for i in sorted(r.errors)]
