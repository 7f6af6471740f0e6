"""The real OpenTelemetry SDK exports GenAI spans over OTLP/HTTP (protobuf) to the running app;
they come back as priced usage. Also OTLP/JSON, idempotent re-export, and refusals."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from tests.support.usage import FIXTURES, account, api_key, error_code
from tokenomist.usage.pricing import Pricer


def emit_spans(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("test.genai")
    with tracer.start_as_current_span("POST /checkout"):  # not a GenAI span: skipped
        with tracer.start_as_current_span("chat gpt-4o") as span:
            span.set_attributes({
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.request.max_tokens": 512,
                "gen_ai.usage.input_tokens": 3000,
                "gen_ai.usage.cache_read.input_tokens": 2048,
                "gen_ai.usage.output_tokens": 400,
                "gen_ai.response.finish_reasons": ["stop"],
                "tokenomist.feature": "assistant",
                "enduser.id": "user-1",
            })  # fmt: skip
        with tracer.start_as_current_span("chat claude") as span:
            span.set_attributes({
                "gen_ai.system": "anthropic",  # the legacy attribute name
                "gen_ai.request.model": "claude-sonnet-4-5",
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.cache_creation.input_tokens": 4000,
                "gen_ai.usage.output_tokens": 20,
            })  # fmt: skip
            span.set_status(Status(StatusCode.ERROR, "overloaded"))
        with tracer.start_as_current_span("chat mystery") as span:
            span.set_attributes({
                "gen_ai.provider.name": "acme",
                "gen_ai.request.model": "brainiac",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 1,
            })  # fmt: skip


def sdk(endpoint: str, headers: dict[str, str], **kw) -> tuple[TracerProvider, OTLPSpanExporter]:
    exporter = OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=30, **kw)
    provider = TracerProvider(resource=Resource.create({"service.name": "shop-assistant"}))
    return provider, exporter


async def test_sdk_exports_genai_spans_to_the_app(embedded_server):
    url = embedded_server.url
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        user = await account(client)
        key = await api_key(client, user, ["ingest"])
        provider, exporter = sdk(
            f"{url}/v1/traces", {"X-API-Key": key}, compression=Compression.Gzip
        )
        memory = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        emit_spans(provider)
        spans = memory.get_finished_spans()
        assert len(spans) == 4
        # the SDK's exporter blocks: run it off the loop that serves the app
        result = await asyncio.to_thread(exporter.export, spans)
        assert result == SpanExportResult.SUCCESS
        summary = (
            await client.get("/api/v1/usage/summary", params={"group_by": "model"}, headers=user)
        ).json()
        assert summary["totals"]["requests"] == 3
        assert summary["totals"]["unpriced_requests"] == 1
        groups = {g["key"]: g for g in summary["groups"]}
        assert groups["gpt-4o-2024-08-06"]["cached_input_tokens"] == 2048
        pricer = Pricer()
        expected = pricer.cost(
            "openai", "gpt-4o-2024-08-06", input_tokens=3000, cached_input_tokens=2048,
            output_tokens=400,
        ) + pricer.cost(
            "anthropic", "claude-sonnet-4-5", input_tokens=4100, cache_write_tokens=4000,
            output_tokens=20,
        )  # fmt: skip
        assert summary["totals"]["cost_usd"] == pytest.approx(expected)
        rows = await embedded_server.resources.analytics.query(
            "SELECT model, project, feature, end_user, status, latency_ms, max_tokens, "
            "finish_reason, request_id FROM llm_usage WHERE source = 'otlp' ORDER BY model"
        )
        by_model = {r["model"]: r for r in rows if r["project"] == "shop-assistant"}
        assert by_model["claude-sonnet-4-5"]["status"] == "error"
        gpt = by_model["gpt-4o-2024-08-06"]
        assert (gpt["feature"], gpt["end_user"], gpt["finish_reason"]) == (
            "assistant", "user-1", "stop",
        )  # fmt: skip
        assert int(gpt["max_tokens"]) == 512 and gpt["latency_ms"] >= 0
        span = next(s for s in spans if s.name == "chat gpt-4o")
        assert gpt["request_id"] == (
            f"otel:{span.context.trace_id:032x}:{span.context.span_id:016x}"
        )
        # a retried export adds nothing
        assert await asyncio.to_thread(exporter.export, spans) == SpanExportResult.SUCCESS
        again = (await client.get("/api/v1/usage/summary", headers=user)).json()
        assert again["totals"]["requests"] == 3
        exporter.shutdown()


async def test_otlp_json_and_partial_success(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url, timeout=30) as client:
        user = await account(client)
        body = (FIXTURES / "otlp.json").read_bytes()
        resp = await client.post(
            "/v1/traces", content=body, headers={**user, "Content-Type": "application/json"}
        )
        assert resp.status_code == 200
        assert resp.json() == {}
        # a span with a negative token count is rejected; the response says so, OTLP-style
        bad = body.replace(b'"intValue": "256"', b'"intValue": "-256"')
        resp = await client.post(
            "/v1/traces", content=bad, headers={**user, "Content-Type": "application/json"}
        )
        assert resp.json()["partialSuccess"]["rejectedSpans"] == "1"
        assert "must not be negative" in resp.json()["partialSuccess"]["errorMessage"]


async def test_otlp_protobuf_partial_success_and_refusals(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url, timeout=30) as client:
        user = await account(client)
        proto = {**user, "Content-Type": "application/x-protobuf"}
        resp = await client.post("/v1/traces", content=b"\x0a\xff\xff", headers=proto)
        assert (resp.status_code, error_code(resp)) == (422, "unparseable_input")
        resp = await client.post(
            "/v1/traces", content=b"{}", headers={**user, "Content-Type": "text/plain"}
        )
        assert (resp.status_code, error_code(resp)) == (415, "unsupported_media_type")
        resp = await client.post(
            "/v1/traces", content=b"", headers={"Content-Type": "application/x-protobuf"}
        )
        assert resp.status_code == 401
        # an empty export is valid protobuf: nothing to store, full success
        empty = trace_service_pb2.ExportTraceServiceRequest().SerializeToString()
        resp = await client.post(
            "/v1/traces", content=empty, headers={**user, "Content-Type": "application/x-protobuf"}
        )
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/x-protobuf"
        parsed = trace_service_pb2.ExportTraceServiceResponse()
        parsed.ParseFromString(resp.content)
        assert parsed.partial_success.rejected_spans == 0
