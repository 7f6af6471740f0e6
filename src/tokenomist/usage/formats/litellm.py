"""LiteLLM's two record shapes, as a JSON array, NDJSON or a single JSON object:

- proxy spend-log rows (``/spend/logs`` output or a ``LiteLLM_SpendLogs`` export): ``request_id``,
  ``spend``, ISO ``startTime``/``endTime``;
- ``StandardLoggingPayload``, what LiteLLM's logging callbacks receive
  (``kwargs["standard_logging_object"]``): ``id``, ``response_cost``, float epoch
  ``startTime``/``endTime``, the request's parameters in ``model_parameters``.

Mapping: ``request_id``/``id`` → request id (``litellm:`` prefixed), ``startTime`` → timestamp,
``endTime - startTime`` → latency, ``custom_llm_provider`` (or the ``provider/`` prefix of
``model``) → provider, ``prompt_tokens``/``completion_tokens`` → input/output, cache reads/writes
from ``metadata.usage_object`` (OpenAI ``prompt_tokens_details.cached_tokens`` or Anthropic
``cache_read_input_tokens``/``cache_creation_input_tokens``), ``spend``/``response_cost`` → the
cost LiteLLM reported (kept beside ours), the team alias/id → project, the first request tag →
feature, ``model_parameters.user``/``end_user``/``user`` → end user,
``model_parameters.service_tier`` → tier. Rows the proxy answered from its own cache
(``cache_hit``) made no provider call and are rejected with that reason.
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
DESCRIPTION = (
    "LiteLLM proxy spend-log rows or StandardLoggingPayload callbacks (JSON array, NDJSON or "
    "one object)"
)


def sniff(head: bytes) -> bool:
    # "spend" names a spend-log row, "response_cost" a StandardLoggingPayload.
    return (
        first_char(head) in (b"[", b"{")
        and (b'"spend"' in head or b'"response_cost"' in head)
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
    single = _single_object(data)
    if single is not None:  # one record, possibly pretty-printed over many lines
        return parse_ndjson_lines(orjson.dumps(single), coerce=to_record)
    return parse_ndjson_lines(data, coerce=to_record)


def _single_object(data: bytes) -> dict[str, Any] | None:
    """The input as one JSON object, or None when it is not one (NDJSON has several)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


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
    latency = _latency_ms(row.get("startTime"), row.get("endTime"), start)
    params = row.get("model_parameters")
    params = params if isinstance(params, dict) else {}
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
        "request_id": f"litellm:{call_id}" if (call_id := _call_id(row)) else None,
        "project": meta.get("user_api_key_team_alias")
        or row.get("team_id")
        or meta.get("user_api_key_team_id")
        or None,
        "feature": str(tags[0]) if isinstance(tags, list) and tags else None,
        "end_user": _end_user(row, params),
        "service_tier": tier if isinstance(tier := params.get("service_tier"), str) else None,
        "reported_cost_usd": _reported_cost(row),
        "metadata": orjson.dumps(
            {
                k: row.get(k)
                for k in (
                    "call_type",
                    "api_base",
                    "model_group",
                    "model_id",
                    "session_id",
                    "trace_id",
                )
                if row.get(k)
            }
        ).decode(),
    }


def _latency_ms(start_raw: Any, end_raw: Any, start: Any) -> float | None:
    if not end_raw:
        return None
    if _is_number(start_raw) and _is_number(end_raw):
        # float epoch seconds (StandardLoggingPayload), or milliseconds as parse_timestamp
        # reads them: the difference is exact, without datetime's microsecond rounding
        scale = 1 if float(start_raw) > 1e11 else 1000
        return (float(end_raw) - float(start_raw)) * scale
    try:
        return float((parse_timestamp(end_raw) - start).total_seconds() * 1000)
    except RowInvalid:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _call_id(row: dict[str, Any]) -> str | None:
    """``request_id`` of a spend-log row, ``id`` of a StandardLoggingPayload."""
    value = row.get("request_id") or row.get("id")
    return str(value) if value else None


def _end_user(row: dict[str, Any], params: dict[str, Any]) -> str | None:
    """The caller's end user: the ``user`` request parameter (a StandardLoggingPayload keeps it
    in ``model_parameters``), else ``end_user``, else a spend-log row's ``user``."""
    for value in (params.get("user"), row.get("end_user"), row.get("user")):
        if value:
            return str(value)
    return None


def _reported_cost(row: dict[str, Any]) -> float | None:
    if row.get("spend") is not None:
        return as_float("spend", row.get("spend"))
    return as_float("response_cost", row.get("response_cost"))
