"""OpenAPI request bodies of the ingest endpoints.

They read the raw request (streamed, size-checked, maybe gzip) instead of a pydantic body, so
FastAPI cannot see what they accept; these ``openapi_extra`` blocks say it. The canonical
record schema is derived from ``records.RAW_SCHEMA``, so a new column shows up here too.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from tokenomist.usage.records import RAW_SCHEMA

ERROR_REF = {"$ref": "#/components/schemas/Error"}  # kit.openapi adds the component
REQUIRED = ["timestamp", "provider", "model", "input_tokens", "output_tokens"]
GZIP_NOTE = " The body may be gzip-compressed (`Content-Encoding: gzip`)."


def _json_type(dtype: pa.DataType) -> dict[str, Any]:
    if pa.types.is_timestamp(dtype):
        return {"type": "string", "format": "date-time", "description": "ISO 8601, or epoch s/ms"}
    if pa.types.is_integer(dtype):
        return {"type": "integer", "minimum": 0}
    if pa.types.is_floating(dtype):
        return {"type": "number"}
    if pa.types.is_boolean(dtype):
        return {"type": "boolean"}
    return {"type": "string"}


def canonical_record_schema() -> dict[str, Any]:
    props = {f.name: _json_type(f.type) for f in RAW_SCHEMA if not f.name.startswith("_")}
    props["metadata"] = {
        "anyOf": [{"type": "object"}, {"type": "string"}],
        "description": "free-form labels: an object, or its JSON text",
    }
    return {
        "title": "CanonicalRecord",
        "type": "object",
        "description": "One LLM call (DESIGN §4). Unknown fields are ignored.",
        "required": REQUIRED,
        "properties": props,
    }


def _csv_example() -> str:
    return (
        ",".join([*REQUIRED, "request_id", "project"])
        + "\n2026-10-01T12:00:00Z,openai,gpt-4o,1200,300,req-1,support\n"
    )


def _records_content() -> dict[str, Any]:
    record = canonical_record_schema()
    return {
        "application/json": {"schema": {"type": "array", "items": record}},
        "application/x-ndjson": {
            "schema": {"type": "string", "description": "one CanonicalRecord JSON per line"},
        },
    }


def usage_body() -> dict[str, Any]:
    """``POST /api/v1/usage``: canonical records."""
    content = _records_content()
    content["text/csv"] = {
        "schema": {"type": "string", "description": "CSV with the canonical column names"},
        "example": _csv_example(),
    }
    return {
        "requestBody": {
            "required": True,
            "description": "Canonical records; valid rows land even if others fail." + GZIP_NOTE,
            "content": content,
        }
    }


def import_body() -> dict[str, Any]:
    """``POST /api/v1/usage/import``: a file in any known format, raw or as a form upload."""
    file_text = {"type": "string", "description": "the file's bytes, in any known format"}
    content = _records_content()
    content["application/json"] = {
        "schema": {
            "description": "canonical records, an OpenAI usage export, an OTLP JSON export or "
            "LiteLLM spend logs (see GET /api/v1/usage/formats)",
            "oneOf": [content["application/json"]["schema"], {"type": "object"}],
        }
    }
    content["text/csv"] = {
        "schema": {**file_text, "description": "canonical CSV or an Azure LLM trace CSV"},
        "example": _csv_example(),
    }
    content["multipart/form-data"] = {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}},
        }
    }
    content["application/octet-stream"] = {"schema": {**file_text, "format": "binary"}}
    return {
        "requestBody": {
            "required": True,
            "description": "The file as the raw body (any content type; the format is "
            "detected or named by ?format=) or as multipart/form-data with one field `file`."
            + GZIP_NOTE,
            "content": content,
        }
    }


def otlp_body() -> dict[str, Any]:
    """``POST /v1/traces``: OTLP/HTTP ExportTraceServiceRequest; answers in the same encoding."""
    binary = {"type": "string", "format": "binary"}
    request = {"type": "object", "description": "ExportTraceServiceRequest (OTLP JSON)"}
    answer = {"type": "object", "description": "ExportTraceServiceResponse (partialSuccess)"}
    return {
        "requestBody": {
            "required": True,
            "description": "GenAI spans (gen_ai.* attributes) become usage records." + GZIP_NOTE,
            "content": {
                "application/x-protobuf": {"schema": binary},
                "application/json": {"schema": request},
            },
        },
        "responses": {
            "200": {
                "description": "ExportTraceServiceResponse, in the request's encoding",
                "content": {
                    "application/x-protobuf": {"schema": binary},
                    "application/json": {"schema": answer},
                },
            },
            "415": {
                "description": "Content-Type is neither application/x-protobuf nor JSON",
                "content": {"application/json": {"schema": ERROR_REF}},
            },
        },
    }
