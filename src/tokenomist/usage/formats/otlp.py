"""OpenTelemetry GenAI spans from an OTLP trace export (protobuf or JSON).

A span is a usage record when it carries GenAI usage (input or output tokens under any alias
below); the trace's other spans are skipped, not errors, and counted as
``span_without_genai_usage``. Each field is read from ``ALIASES`` (first alias set wins); JSON
sent as a string attribute (span attributes cannot nest) is decoded where a list or object is
expected. Mapping:

- provider: ``gen_ai.provider.name`` (legacy ``gen_ai.system``: LiteLLM, OpenLLMetry); model:
  ``gen_ai.response.model`` (the exact version billed), else ``gen_ai.request.model``;
- tokens: ``gen_ai.usage.input_tokens`` / ``output_tokens`` (legacy ``prompt_tokens`` /
  ``completion_tokens``: older LiteLLM and OpenLLMetry);
- cache reads/writes: ``gen_ai.usage.cache_read.input_tokens`` /
  ``gen_ai.usage.cache_creation.input_tokens`` (also the ``*_input_tokens`` spellings), or
  LiteLLM's ``metadata.usage_object`` (JSON or a Python repr):
  ``prompt_tokens_details.cached_tokens``, ``cache_read_input_tokens``,
  ``cache_creation_input_tokens``; ``input_tokens`` includes them (added when a provider
  reported them apart);
- the producer's own cost → ``reported_cost_usd``: ``gen_ai.usage.cost`` (OpenLIT),
  ``gen_ai.cost.total_cost`` (LiteLLM);
- ``gen_ai.request.max_tokens``, the first of ``gen_ai.response.finish_reasons`` (an array, or
  LiteLLM's string ``'["length"]'``), span duration → latency, span status ERROR or
  ``error.type`` → status error;
- project: ``tokenomist.project``, else the resource's ``service.name``; feature:
  ``tokenomist.feature``; end user: ``enduser.id``/``user.id``; tier:
  ``openai.response.service_tier`` / ``openai.request.service_tier``;
- fingerprints: ``tokenomist.request_fingerprint`` / ``prefix_fingerprint`` /
  ``prefix_tokens`` when set; else derived from the captured prompt content (system
  instructions, tool definitions, input messages, prompt events) as ``genai_content``
  describes, unless ``ImportOptions.derive_fingerprints`` is off (setting
  ``usage_derive_fingerprints``). The content is hashed, never stored;
- request id: trace id + span id, so a re-sent export adds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tokenomist.usage.formats import genai_content
from tokenomist.usage.formats.base import ImportOptions, Unparseable, first_char
from tokenomist.usage.formats.genai_content import decoded
from tokenomist.usage.records import Parsed, RowError, RowInvalid, as_float, as_int, rows_to_table

NAME = "otlp"
DESCRIPTION = "OpenTelemetry OTLP trace export with GenAI spans (protobuf or JSON)"

_STATUS_ERROR = 2
SKIPPED_NO_USAGE = "span_without_genai_usage"


def sniff(head: bytes) -> bool:
    return first_char(head) == b"{" and (b'"resourceSpans"' in head or b'"resource_spans"' in head)


def parse(
    data: bytes, options: ImportOptions | None = None, *, protobuf: bool | None = None
) -> Parsed:
    if protobuf is None:
        protobuf = first_char(data) != b"{"
    spans, other = _spans_protobuf(data) if protobuf else _spans_json(data)
    derive = (options or ImportOptions()).derive_fingerprints
    rows, errors = [], []
    for i, span in enumerate(spans):
        try:
            row = _to_record(span, derive=derive)
        except RowInvalid as exc:
            errors.append(RowError(i, exc.field, f"span {span['span_id']}: {exc.message}"))
            continue
        row["_row"] = i
        rows.append(row)
    skipped = {SKIPPED_NO_USAGE: other} if other else {}
    return Parsed(rows_to_table(rows), errors, len(spans), skipped)


def _is_genai(attrs: dict[str, Any]) -> bool:
    return any(k in attrs for k in (*ALIASES["input_tokens"], *ALIASES["output_tokens"]))


# -- protobuf --------------------------------------------------------------------------------


def _any_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def _spans_protobuf(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The GenAI spans, and how many other spans there were."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        request.ParseFromString(data)
    except DecodeError as exc:
        raise Unparseable(f"not an OTLP ExportTraceServiceRequest protobuf: {exc}") from None
    out, other = [], 0
    for rs in request.resource_spans:
        resource = {kv.key: _any_value(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            for span in ss.spans:
                attrs = {kv.key: _any_value(kv.value) for kv in span.attributes}
                if not _is_genai(attrs):
                    other += 1
                    continue
                out.append(
                    {
                        "attrs": attrs,
                        "resource": resource,
                        "start_ns": span.start_time_unix_nano,
                        "end_ns": span.end_time_unix_nano,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "status": span.status.code,
                        "events": [
                            (e.name, {kv.key: _any_value(kv.value) for kv in e.attributes})
                            for e in span.events
                        ],
                    }
                )
    return out, other


# -- JSON (OTLP/JSON: camelCase keys, hex ids, 64-bit ints as strings) ------------------------


def _json_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return None
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        try:
            return int(v["intValue"])
        except (TypeError, ValueError):
            return v["intValue"]
    if "arrayValue" in v:
        return [_json_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return {kv.get("key"): _json_value(kv.get("value")) for kv in v["kvlistValue"]["values"]}
    return None


def _json_attrs(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {
        str(kv.get("key")): _json_value(kv.get("value")) for kv in items if isinstance(kv, dict)
    }


def _nanos(value: Any) -> int | None:
    """A span time (OTLP/JSON sends 64-bit ints as strings); None when it is not an integer,
    which the span's record reports (one bad span must not refuse the whole export)."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return None


def _status_code(value: Any) -> int:
    # Enum values are integers in OTLP/JSON; some encoders send the enum name.
    if isinstance(value, str) and not value.strip().isdigit():
        return _STATUS_ERROR if value.strip().upper() == "STATUS_CODE_ERROR" else 0
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _object(value: Any, where: str) -> dict[str, Any]:
    # A malformed export is refused whole with the place named (never a 500).
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Unparseable(f"{where} must be an object, got {type(value).__name__}")
    return value


def _array(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Unparseable(f"{where} must be an array, got {type(value).__name__}")
    return value


def _spans_json(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The GenAI spans, and how many other spans there were."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise Unparseable(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans"), list):
        raise Unparseable("expected an OTLP/JSON export: an object with 'resourceSpans'")
    out, other = [], 0
    for i, rs in enumerate(doc["resourceSpans"]):
        rs_where = f"resourceSpans[{i}]"
        rs = _object(rs, rs_where)
        res = _object(rs.get("resource"), f"{rs_where}.resource")
        resource = _json_attrs(res.get("attributes"))
        for j, ss in enumerate(_array(rs.get("scopeSpans"), f"{rs_where}.scopeSpans")):
            where = f"{rs_where}.scopeSpans[{j}]"
            ss = _object(ss, where)
            for k, span in enumerate(_array(ss.get("spans"), f"{where}.spans")):
                span = _object(span, f"{where}.spans[{k}]")
                attrs = _json_attrs(span.get("attributes"))
                if not _is_genai(attrs):
                    other += 1
                    continue
                out.append(
                    {
                        "attrs": attrs,
                        "resource": resource,
                        "start_ns": _nanos(span.get("startTimeUnixNano")),
                        "end_ns": _nanos(span.get("endTimeUnixNano")),
                        "trace_id": str(span.get("traceId") or "").lower(),
                        "span_id": str(span.get("spanId") or "").lower(),
                        "status": _status_code((span.get("status") or {}).get("code")),
                        "events": [
                            (str(e.get("name") or ""), _json_attrs(e.get("attributes")))
                            for e in _array(span.get("events"), f"{where}.spans[{k}].events")
                            if isinstance(e, dict)
                        ],
                    }
                )
    return out, other


# -- span → record ---------------------------------------------------------------------------

# Where each field is found, first match wins: an attribute name, or (attribute, key, ...) for
# a value inside a JSON object attribute (string-encoded ones are decoded first).
Alias = str | tuple[str, ...]
_USAGE_OBJECT = "metadata.usage_object"  # LiteLLM's OTel callback: the provider's usage, as JSON
ALIASES: dict[str, tuple[Alias, ...]] = {
    "provider": ("gen_ai.provider.name", "gen_ai.system"),
    "model": ("gen_ai.response.model", "gen_ai.request.model"),
    "request_model": ("gen_ai.request.model", "gen_ai.response.model"),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cached_input_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        (_USAGE_OBJECT, "prompt_tokens_details", "cached_tokens"),
        (_USAGE_OBJECT, "cache_read_input_tokens"),
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        (_USAGE_OBJECT, "cache_creation_input_tokens"),
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        (_USAGE_OBJECT, "completion_tokens_details", "reasoning_tokens"),
    ),
    "max_tokens": ("gen_ai.request.max_tokens",),
    "finish_reasons": ("gen_ai.response.finish_reasons",),
    "reported_cost_usd": ("gen_ai.usage.cost", "gen_ai.cost.total_cost"),
    "service_tier": ("openai.response.service_tier", "openai.request.service_tier"),
    "project": ("tokenomist.project",),
    "feature": ("tokenomist.feature",),
    "end_user": ("enduser.id", "user.id"),
    "interactive": ("tokenomist.interactive",),
    "request_fingerprint": ("tokenomist.request_fingerprint",),
    "prefix_fingerprint": ("tokenomist.prefix_fingerprint",),
    "prefix_tokens": ("tokenomist.prefix_tokens",),
}


def _lookup(attrs: dict[str, Any], alias: Alias) -> Any:
    if isinstance(alias, str):
        return attrs.get(alias)
    value: Any = attrs.get(alias[0])
    for key in alias[1:]:
        value = decoded(value)
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _field(attrs: dict[str, Any], name: str) -> tuple[str, Any]:
    """The first alias of ``name`` the span sets, and its value (the name for messages)."""
    for alias in ALIASES[name]:
        value = _lookup(attrs, alias)
        if value not in (None, ""):
            return alias if isinstance(alias, str) else ".".join(alias), value
    return str(ALIASES[name][0]), None


def _value(attrs: dict[str, Any], name: str) -> Any:
    return _field(attrs, name)[1]


def _int(attrs: dict[str, Any], name: str) -> int | None:
    return as_int(*_field(attrs, name))


def _span_start(span: dict[str, Any]) -> datetime:
    if span["start_ns"] is None:
        raise RowInvalid("timestamp", "the span's startTimeUnixNano is not an integer")
    if not span["start_ns"]:
        raise RowInvalid("timestamp", "the span has no start time")
    try:
        return datetime.fromtimestamp(span["start_ns"] / 1e9, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise RowInvalid(
            "timestamp", f"the span's start time ({span['start_ns']} ns) is out of range"
        ) from None


def _input_tokens(a: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    """Input, cache-read and cache-write tokens; input includes the cached ones."""
    inp = _int(a, "input_tokens")
    cached = _int(a, "cached_input_tokens")
    written = _int(a, "cache_write_tokens")
    if inp is not None and (cached or 0) + (written or 0) > inp:
        inp += (cached or 0) + (written or 0)  # reported apart (Anthropic style)
    return inp, cached, written


def _fingerprints(span: dict[str, Any], inp: int | None, derive: bool) -> dict[str, Any]:
    """Explicit ``tokenomist.*`` fingerprints win; else derived from the captured content."""
    a = span["attrs"]
    explicit = {
        "request_fingerprint": _value(a, "request_fingerprint"),
        "prefix_fingerprint": _value(a, "prefix_fingerprint"),
        "prefix_tokens": _int(a, "prefix_tokens"),
    }
    if not derive:
        return explicit
    derived = genai_content.fingerprints(_value(a, "request_model"), a, span["events"], inp)
    out = {k: v if v is not None else derived.get(k) for k, v in explicit.items()}
    if explicit["prefix_fingerprint"] is not None:  # a derived length would describe another prefix
        out["prefix_tokens"] = explicit["prefix_tokens"]
    return out


def _to_record(span: dict[str, Any], *, derive: bool = True) -> dict[str, Any]:
    a = span["attrs"]
    start = _span_start(span)
    latency = (span["end_ns"] - span["start_ns"]) / 1e6 if span["end_ns"] else None
    inp, cached, written = _input_tokens(a)
    reasons = decoded(_value(a, "finish_reasons"))
    finish = (reasons[0] if reasons else None) if isinstance(reasons, list) else reasons
    failed = span["status"] == _STATUS_ERROR or a.get("error.type") not in (None, "")
    interactive = _value(a, "interactive")
    return {
        "timestamp": start,
        "provider": _value(a, "provider"),
        "model": _value(a, "model"),
        "input_tokens": inp,
        "output_tokens": _int(a, "output_tokens"),
        "cached_input_tokens": cached,
        "cache_write_tokens": written,
        "reasoning_tokens": _int(a, "reasoning_tokens"),
        "max_tokens": _int(a, "max_tokens"),
        "finish_reason": str(finish) if finish is not None else None,
        "latency_ms": as_float("latency_ms", latency),
        "reported_cost_usd": as_float(*_field(a, "reported_cost_usd")),
        "status": "error" if failed else "success",
        "service_tier": _value(a, "service_tier"),
        "request_id": f"otel:{span['trace_id']}:{span['span_id']}",
        "project": _value(a, "project") or span["resource"].get("service.name"),
        "feature": _value(a, "feature"),
        "end_user": _value(a, "end_user"),
        "interactive": interactive if isinstance(interactive, bool) else None,
        **_fingerprints(span, inp, derive),
        "metadata": orjson.dumps(
            {
                "trace_id": span["trace_id"],
                "span_id": span["span_id"],
                "operation": a.get("gen_ai.operation.name"),
            }
        ).decode(),
    }


def export_response(rejected: int, message: str, *, protobuf: bool) -> tuple[bytes, str]:
    """The OTLP ExportTraceServiceResponse (partial success when spans were rejected)."""
    if protobuf:
        resp = trace_service_pb2.ExportTraceServiceResponse()
        if rejected:
            resp.partial_success.rejected_spans = rejected
            resp.partial_success.error_message = message
        return resp.SerializeToString(), "application/x-protobuf"
    body: dict[str, Any] = {}
    if rejected:
        body["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message}
    return orjson.dumps(body), "application/json"
