"""LiteLLM proxy spend-log rows (``/spend/logs`` output or a ``LiteLLM_SpendLogs`` export),
as a JSON array or NDJSON.

Mapping: ``startTime`` → timestamp, ``endTime - startTime`` → latency, ``custom_llm_provider``
(or the ``provider/`` prefix of ``model``) → provider, ``prompt_tokens``/``completion_tokens``
→ input/output, cache reads/writes from ``metadata.usage_object``, ``spend`` → the
provider-reported cost (kept beside ours), ``team_alias``/``team_id`` → project, the first
request tag → feature, ``end_user``/``user`` → end user. Rows the proxy answered from its own
cache (``cache_hit``) made no provider call and are rejected with that reason.
"""

from __future__ import annotations

from typing import Any

import orjson

from tokenomist.usage.formats.base import ImportOptions, Unparseable, first_char
from tokenomist.usage.formats.canonical import parse_ndjson_lines
from tokenomist.usage.records import (
    Parsed,
    RowError,
    RowInvalid,
    as_float,
    as_int,
    parse_timestamp,
    rows_to_table,
)

NAME = "litellm"
DESCRIPTION = "LiteLLM proxy spend-log rows (JSON array or NDJSON)"


def sniff(head: bytes) -> bool:
    return (
        first_char(head) in (b"[", b"{")
        and b'"spend"' in head
        and b'"prompt_tokens"' in head
        and (b'"startTime"' in head or b'"call_type"' in head)
    )


def parse(data: bytes, options: ImportOptions | None = None) -> Parsed:
    if first_char(data) == b"[":
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise Unparseable(f"not valid JSON: {exc}") from None
        if not isinstance(items, list):
            raise Unparseable("expected a JSON array of spend-log rows")
        rows, errors = [], []
        for i, item in enumerate(items):
            try:
                row = to_record(item)
            except RowInvalid as exc:
                errors.append(RowError(i, exc.field, exc.message))
                continue
            row["_row"] = i
            rows.append(row)
        return Parsed(rows_to_table(rows), errors, len(items))
    return parse_ndjson_lines(data, coerce=to_record)


def _meta(row: dict[str, Any]) -> dict[str, Any]:
    meta = row.get("metadata")
    if isinstance(meta, str):
        try:
            meta = orjson.loads(meta)
        except orjson.JSONDecodeError:
            return {}
    return meta if isinstance(meta, dict) else {}


def to_record(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise RowInvalid("", "a spend-log row must be a JSON object")
    if row.get("cache_hit") in (True, "True", "true"):
        raise RowInvalid("cache_hit", "served from the LiteLLM cache: no provider call to price")
    start = parse_timestamp(row.get("startTime"))
    end = row.get("endTime")
    latency = None
    if end:
        try:
            latency = (parse_timestamp(end) - start).total_seconds() * 1000
        except RowInvalid:
            latency = None
    model = str(row.get("model") or "")
    provider = row.get("custom_llm_provider") or ""
    if "/" in model and (not provider or model.split("/", 1)[0] == provider):
        provider, model = model.split("/", 1)
    meta = _meta(row)
    raw_usage = meta.get("usage_object")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    details = usage.get("prompt_tokens_details") or {}
    prompt = as_int("prompt_tokens", row.get("prompt_tokens"))
    cached = as_int(
        "cache_read_input_tokens",
        usage.get("cache_read_input_tokens") or details.get("cached_tokens") or 0,
    )
    written = as_int("cache_creation_input_tokens", usage.get("cache_creation_input_tokens") or 0)
    apart = (cached or 0) + (written or 0)
    if prompt is not None and apart > prompt:  # reported apart (Anthropic style)
        prompt += apart
    status = str(row.get("status") or "success").lower()
    tags = row.get("request_tags")
    if isinstance(tags, str):
        try:
            tags = orjson.loads(tags)
        except orjson.JSONDecodeError:
            tags = [tags]
    return {
        "timestamp": start,
        "provider": provider,
        "model": model,
        "input_tokens": prompt,
        "output_tokens": as_int("completion_tokens", row.get("completion_tokens")),
        "cached_input_tokens": cached,
        "cache_write_tokens": written,
        "latency_ms": latency,
        "status": "error" if status in ("failure", "error", "failed") else "success",
        "request_id": f"litellm:{row['request_id']}" if row.get("request_id") else None,
        "project": meta.get("user_api_key_team_alias") or row.get("team_id") or None,
        "feature": str(tags[0]) if isinstance(tags, list) and tags else None,
        "end_user": row.get("end_user") or row.get("user") or None,
        "reported_cost_usd": as_float("spend", row.get("spend")),
        "metadata": orjson.dumps(
            {
                k: row.get(k)
                for k in ("call_type", "api_base", "model_group", "session_id")
                if row.get(k)
            }
        ).decode(),
    }
