"""OpenAI organization usage export: the completions usage buckets
(``GET /v1/organization/usage/completions``), one page or a JSON array of pages.

Each bucket result aggregates ``num_model_requests`` calls of one model (grouped by project,
user, API key, batch). Tokenomist stores calls, so a result becomes that many rows with its
tokens split evenly (remainders on the first rows) and timestamps spread across the bucket:
token, cost and request totals are exact; per-call sizes are the bucket's averages. Every such
row carries ``metadata.openai_usage_bucket`` so an analysis can tell averages from real calls.
A result of zero requests holds no call: it is skipped, counted as ``result_without_requests``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from tokenomist.kit.hygiene import DATE_RANGE_TEXT, EARLIEST_DATE, END_OF_DATES
from tokenomist.usage.formats.base import ImportOptions, Unparseable, first_char
from tokenomist.usage.records import (
    Parsed,
    RowError,
    RowInvalid,
    as_int,
    rows_to_table,
)

NAME = "openai-usage"
DESCRIPTION = "OpenAI organization usage export (completions usage buckets JSON)"
MAX_REQUESTS_PER_RESULT = 200_000  # beyond this, ask for a finer bucket width
SKIPPED_NO_REQUESTS = "result_without_requests"  # num_model_requests 0: no call to store


def sniff(head: bytes) -> bool:
    return first_char(head) in (b"{", b"[") and (
        b"organization.usage.completions.result" in head
        or (b'"bucket"' in head and b'"results"' in head and b'"num_model_requests"' in head)
    )


def parse(data: bytes, options: ImportOptions | None = None) -> Parsed:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise Unparseable(f"not valid JSON: {exc}") from None
    pages = doc if isinstance(doc, list) else [doc]
    buckets: list[Any] = []
    for page in pages:
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise Unparseable("expected a usage page: an object with a 'data' array of buckets")
        buckets.extend(page["data"])
    rows: list[dict[str, Any]] = []
    errors: list[RowError] = []
    index, idle = -1, 0
    for bucket in buckets:
        results = bucket.get("results") if isinstance(bucket, dict) else None
        if not isinstance(results, list):
            index += 1
            errors.append(RowError(index, "results", "a bucket needs a 'results' array"))
            continue
        for result in results:
            index += 1
            try:
                expanded = _expand(bucket, result, index)
            except RowInvalid as exc:
                errors.append(RowError(index, exc.field, exc.message))
                continue
            rows.extend(expanded)
            if not expanded:
                idle += 1
    skipped = {SKIPPED_NO_REQUESTS: idle} if idle else {}
    return Parsed(rows_to_table(rows), errors, index + 1, skipped)


def _bucket_window(bucket: dict[str, Any]) -> tuple[int, int]:
    """The bucket's (start, end) in Unix seconds; a missing or empty end means one day."""
    start = as_int("start_time", bucket.get("start_time"))
    end = as_int("end_time", bucket.get("end_time"))
    if start is None:
        raise RowInvalid("start_time", "is required")
    for name, value in (("start_time", start), ("end_time", end)):
        if value is None:
            continue
        # Within 1970-2200, so the bucket's spread (up to start + 1 day) stays a datetime too.
        usable = EARLIEST_DATE.timestamp() <= value < END_OF_DATES.timestamp()
        if not usable:
            raise RowInvalid(
                name, f"is not a Unix time {DATE_RANGE_TEXT}, got {bucket.get(name)!r}"
            )
    return start, end if end is not None and end > start else start + 86400


def _result_counts(result: dict[str, Any]) -> tuple[Any, int, dict[str, int]]:
    """The result's model, number of calls and token totals, each checked."""
    model = result.get("model")
    if not model:
        raise RowInvalid("model", "is required (export with group_by=model)")
    n = as_int("num_model_requests", result.get("num_model_requests")) or 0
    if n < 0:
        raise RowInvalid("num_model_requests", "must not be negative")
    if n > MAX_REQUESTS_PER_RESULT:
        raise RowInvalid(
            "num_model_requests",
            f"{n:,} calls in one result; export with a finer bucket_width (max "
            f"{MAX_REQUESTS_PER_RESULT:,} per result)",
        )
    tokens = {
        "input_tokens": as_int("input_tokens", result.get("input_tokens")) or 0,
        "output_tokens": as_int("output_tokens", result.get("output_tokens")) or 0,
        "cached_input_tokens": (
            as_int("input_cached_tokens", result.get("input_cached_tokens")) or 0
        ),
    }
    for name, value in tokens.items():
        if value < 0:
            raise RowInvalid(name, "must not be negative")
    return model, n, tokens


def _expand(bucket: dict[str, Any], result: Any, index: int) -> list[dict[str, Any]]:
    if not isinstance(result, dict):
        raise RowInvalid("", "a bucket result must be an object")
    start, end = _bucket_window(bucket)
    model, n, tokens = _result_counts(result)
    if n == 0:
        return []
    tier = "batch" if result.get("batch") else (result.get("service_tier") or "standard")
    labels = {
        "project": result.get("project_id") or "",
        "end_user": result.get("user_id") or "",
    }
    meta = orjson.dumps(
        {
            "openai_usage_bucket": {"start_time": start, "end_time": end, "requests": n},
            "api_key_id": result.get("api_key_id"),
        }
    ).decode()
    base_id = ":".join(
        str(x)
        for x in (
            "openai-usage",
            start,
            model,
            labels["project"],
            labels["end_user"],
            result.get("api_key_id") or "",
            tier,
        )
    )
    step = (end - start) / n
    rows = []
    for i in range(n):
        row = {name: value // n + (1 if i < value % n else 0) for name, value in tokens.items()}
        rows.append(
            {
                "_row": index,
                "timestamp": datetime.fromtimestamp(start + step * (i + 0.5), tz=UTC),
                "provider": "openai",
                "model": str(model),
                "service_tier": tier,
                "interactive": False if tier == "batch" else None,
                "request_id": f"{base_id}:{i}",
                "status": "success",
                "metadata": meta,
                **labels,
                **row,
            }
        )
    return rows
