"""Usage rows straight into the analytics tier (the analyst reads ``llm_usage``; these tests
do not depend on the ingest path). Each row's ``cost_usd`` is priced by the pricing module,
exactly as ingest prices it; a model the price data does not know stays unpriced (NULL)."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from tokenomist.usage.pricing import Pricer

_STRINGS = (
    "provider", "model", "status", "finish_reason", "service_tier", "project", "feature",
    "end_user", "request_fingerprint", "prefix_fingerprint", "source",
)  # fmt: skip
_UINTS = (
    "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
    "reasoning_tokens", "prefix_tokens",
)  # fmt: skip
_DEFAULTS = {"status": "success", "service_tier": "standard", "source": "test"}


def _ts(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def records_to_arrow(org_id: str, records: list[dict], pricer: Pricer) -> pa.Table:
    cols: dict[str, list] = {name: [] for name in ("org_id", "request_id", "timestamp")}
    for name in (*_STRINGS, *_UINTS, "latency_ms", "max_tokens", "interactive", "cost_usd"):
        cols[name] = []
    for i, r in enumerate(records):
        cols["org_id"].append(org_id)
        cols["request_id"].append(r.get("request_id") or f"row-{i}")
        cols["timestamp"].append(_ts(r["timestamp"]))
        for name in _STRINGS:
            cols[name].append(r.get(name) or _DEFAULTS.get(name, ""))
        for name in _UINTS:
            cols[name].append(int(r.get(name) or 0))
        cols["latency_ms"].append(r.get("latency_ms"))
        cols["max_tokens"].append(r.get("max_tokens"))
        cols["interactive"].append(r.get("interactive"))
        cols["cost_usd"].append(
            pricer.cost(
                r["provider"],
                r["model"],
                input_tokens=int(r["input_tokens"]),
                cached_input_tokens=int(r.get("cached_input_tokens") or 0),
                cache_write_tokens=int(r.get("cache_write_tokens") or 0),
                output_tokens=int(r["output_tokens"]),
                service_tier=r.get("service_tier") or "standard",
            )
        )
    types = {
        "timestamp": pa.timestamp("ms", "UTC"),
        "latency_ms": pa.float64(),
        "max_tokens": pa.uint32(),
        "interactive": pa.bool_(),
        "cost_usd": pa.float64(),
        **{name: pa.uint64() for name in _UINTS},
    }
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})


async def insert_records(analytics, org_id: str, records: list[dict], pricer: Pricer) -> None:
    table = records_to_arrow(org_id, records, pricer)
    step = 200_000
    for start in range(0, table.num_rows, step):
        await analytics.insert_arrow("llm_usage", table.slice(start, step))
