"""What the savings strategies need from GenAI spans as real producers send them: request and
prefix fingerprints derived from captured prompt content (OpenLIT / OTel semconv, OpenLLMetry
``gen_ai.prompt.{i}.*``, span events), and LiteLLM's OTel callback's string-encoded JSON,
cached tokens and reported cost."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.analyst import ask, register
from tests.support.servers import live_server
from tests.support.usage import FIXTURES
from tokenomist.usage.formats import ImportOptions, otlp
from tokenomist.usage.formats.genai_content import decoded
from tokenomist.usage.pricing import Pricer

START_NS = 1_793_520_000_000_000_000  # 2026-11-01T06:40:00Z
# ~3,300 tokens of system prompt (about 4 bytes a token), byte-identical on every call
SYSTEM_PROMPT = "".join(
    f"Rule {i}: answer as the Acme support desk, cite the policy, never promise refunds. "
    for i in range(160)
)
QUESTION = "How can we cut our AI spend?"


def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_value(x) for x in v]}}
    return {"stringValue": v}


def _attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in values.items()]


def export(spans: list[dict[str, Any]], service: str = "support-bot") -> bytes:
    """An OTLP/JSON export as an SDK's JSON exporter writes it (camelCase, ints as strings)."""
    out = []
    for i, s in enumerate(spans):
        start = START_NS + i * 60_000_000_000  # one a minute: inside cache and dedupe windows
        span = {
            "traceId": f"{i + 1:032x}",
            "spanId": f"{i + 1:016x}",
            "name": "chat",
            "kind": 3,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 900_000_000),
            "attributes": _attrs(s["attrs"]),
            "status": {},
        }
        if "events" in s:
            span["events"] = [
                {"timeUnixNano": str(start), "name": n, "attributes": _attrs(a)}
                for n, a in s["events"]
            ]
        out.append(span)
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": _attrs({"service.name": service})},
                "scopeSpans": [{"scope": {"name": "openlit.otel.tracing"}, "spans": out}],
            }
        ]
    }
    return orjson.dumps(doc)


def openlit_span(user_text: str = "What is the refund policy for damaged items?") -> dict:
    """OpenLIT 1.45 (OTel GenAI semconv, prompt capture on by default): the messages as a
    JSON string attribute, its own cost in ``gen_ai.usage.cost``."""
    messages = [
        {"role": "system", "parts": [{"type": "text", "content": SYSTEM_PROMPT}]},
        {"role": "user", "parts": [{"type": "text", "content": user_text}]},
    ]
    return {
        "attrs": {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 3320,
            "gen_ai.usage.output_tokens": 180,
            "gen_ai.usage.cost": 0.0101,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.input.messages": orjson.dumps(messages).decode(),
        }
    }


def litellm_span() -> dict:
    """A LiteLLM-style span with the older names: ``gen_ai.usage.prompt_tokens``, finish
    reasons and usage as JSON strings, its own cost in ``gen_ai.cost.total_cost``, messages as
    ``gen_ai.prompt.{i}.*`` (the 1.110 capture, with the newer names, is a fixture)."""
    usage = {
        "completion_tokens": 64,
        "prompt_tokens": 1200,
        "total_tokens": 1264,
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": None},
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": None},
    }
    return {
        "attrs": {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.request.max_tokens": 64,
            "gen_ai.usage.prompt_tokens": 1200,
            "gen_ai.usage.completion_tokens": 64,
            "gen_ai.usage.total_tokens": 1264,
            "gen_ai.response.finish_reasons": '["length"]',
            "metadata.usage_object": orjson.dumps(usage).decode(),
            "gen_ai.cost.total_cost": 0.000219,
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "You summarise tickets.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Summarise ticket 4411.",
        }
    }


def rows_of(body: bytes, **options: Any) -> list[dict[str, Any]]:
    parsed = otlp.parse(body, ImportOptions(**options), protobuf=False)
    assert not parsed.errors
    return parsed.table.to_pylist()


async def stored(server, org_id: str) -> list[dict[str, Any]]:
    return await server.resources.analytics.query(
        "SELECT request_fingerprint, prefix_fingerprint, prefix_tokens, finish_reason, "
        "cached_input_tokens, input_tokens, reported_cost_usd, provider, model "
        "FROM llm_usage FINAL WHERE org_id = {org:String} ORDER BY timestamp",
        {"org": org_id},
    )


async def post(server, user, body: bytes) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        resp = await client.post(
            "/v1/traces",
            content=body,
            headers={**user.headers, "Content-Type": "application/json"},
        )
    assert resp.status_code == 200 and resp.json() == {}, resp.text


async def test_forty_identical_openlit_calls_are_found_as_duplicates_and_cacheable(
    embedded_server,
):
    srv = embedded_server
    user = await register(srv.url)
    await post(srv, user, export([openlit_span() for _ in range(40)]))
    rows = await stored(srv, user.org_id)
    assert len(rows) == 40
    assert len({r["request_fingerprint"] for r in rows}) == 1
    assert len({r["prefix_fingerprint"] for r in rows}) == 1
    assert rows[0]["request_fingerprint"] and rows[0]["prefix_fingerprint"]
    # the prefix is the system prompt: nearly all of the 3,320 input tokens, not the user turn
    assert 3200 <= int(rows[0]["prefix_tokens"]) < 3320
    assert rows[0]["reported_cost_usd"] == pytest.approx(0.0101)
    assert SYSTEM_PROMPT[:40] not in orjson.dumps(rows).decode()  # hashed, never stored
    run, _ = await ask(srv, user, QUESTION)
    by_id = {s["id"]: s for s in run["report"]["strategies"]}
    assert "duplicate_requests" in by_id and "prompt_caching" in by_id, by_id.keys()
    (dup,) = by_id["duplicate_requests"]["scope"]
    assert (dup["repeats"], dup["calls"], dup["distinct_requests_repeated"]) == (39, 40, 1)
    (cache,) = by_id["prompt_caching"]["scope"]
    assert (cache["would_hit_cache"], cache["prefixes"]) == (39, 1)
    assert cache["prefix_tokens"] == rows[0]["prefix_tokens"]
    prefix, pricer = cache["prefix_tokens"], Pricer()
    per_hit = pricer.cost(
        "openai", "gpt-4o-2024-08-06", input_tokens=prefix, output_tokens=0
    ) - pricer.cost(
        "openai", "gpt-4o-2024-08-06", input_tokens=prefix, cached_input_tokens=prefix,
        output_tokens=0,
    )  # fmt: skip
    assert by_id["prompt_caching"]["standalone_savings_usd"] == pytest.approx(
        39 * per_hit, rel=0.01
    )


async def test_litellm_otel_span_keeps_truncation_cached_tokens_and_cost(embedded_server):
    srv = embedded_server
    user = await register(srv.url)
    await post(srv, user, export([litellm_span()], service="gateway"))
    (row,) = await stored(srv, user.org_id)
    assert row["provider"] == "openai" and row["model"] == "gpt-4o-mini-2024-07-18"
    assert row["finish_reason"] == "length"
    assert int(row["input_tokens"]) == 1200
    assert int(row["cached_input_tokens"]) == 1024
    assert row["reported_cost_usd"] == pytest.approx(0.000219)
    assert row["request_fingerprint"] and row["prefix_fingerprint"]


async def test_derivation_off_stores_no_fingerprints(make_settings):
    async with live_server(make_settings(usage_derive_fingerprints=False)) as srv:
        user = await register(srv.url)
        await post(srv, user, export([openlit_span(), litellm_span()]))
        # the file-import path honours the setting too
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
            resp = await client.post(
                "/api/v1/usage/import",
                params={"format": "otlp"},
                content=export([openlit_span()] * 3),  # the first two are already stored
                headers=user.headers,
            )
        assert resp.status_code == 200 and resp.json()["accepted"] == 1, resp.text
        rows = await stored(srv, user.org_id)
    assert len(rows) == 3
    assert {(r["request_fingerprint"], r["prefix_fingerprint"]) for r in rows} == {("", "")}
    assert {r["finish_reason"] for r in rows} == {"stop", "length"}  # the rest still mapped


def test_same_prefix_other_question_shares_only_the_prefix_fingerprint():
    a, b = rows_of(export([openlit_span("Where is my order?"), openlit_span("Cancel it.")]))
    assert a["prefix_fingerprint"] == b["prefix_fingerprint"]
    assert a["request_fingerprint"] != b["request_fingerprint"]
    assert a["prefix_tokens"] == pytest.approx(b["prefix_tokens"], abs=5)


def test_system_instructions_and_tools_form_the_prefix():
    tools = [{"type": "function", "name": "lookup_order", "parameters": {"type": "object"}}]
    base = {
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 2000,
        "gen_ai.usage.output_tokens": 10,
        "gen_ai.system_instructions": orjson.dumps(
            [{"type": "text", "content": SYSTEM_PROMPT}]
        ).decode(),
        "gen_ai.tool.definitions": orjson.dumps(tools).decode(),
        "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
    }
    other_tools = {**base, "gen_ai.tool.definitions": orjson.dumps(tools * 2).decode()}
    no_content = {k: v for k, v in base.items() if not k.startswith(("gen_ai.sys", "gen_ai.t"))}
    no_content.pop("gen_ai.input.messages")
    a, b, c = rows_of(export([{"attrs": base}, {"attrs": other_tools}, {"attrs": no_content}]))
    assert a["prefix_fingerprint"] and a["prefix_fingerprint"] != b["prefix_fingerprint"]
    assert 1900 <= a["prefix_tokens"] <= 2000
    assert (c["request_fingerprint"], c["prefix_fingerprint"], c["prefix_tokens"]) == (
        None, None, None,
    )  # fmt: skip


def test_openllmetry_indexed_prompts_and_no_token_count_estimate_by_bytes():
    span = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.output_tokens": 5,  # no input count: the prefix is estimated by bytes
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": SYSTEM_PROMPT,
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "hello",
        "llm.request.functions.0.name": "lookup_order",
    }
    (row,) = rows_of(export([{"attrs": span}]))
    assert row["request_fingerprint"] and row["prefix_fingerprint"]
    assert row["prefix_tokens"] == pytest.approx(len(SYSTEM_PROMPT) / 4, rel=0.05)


def test_explicit_fingerprints_win_and_derivation_can_be_turned_off():
    span = openlit_span()
    span["attrs"] |= {
        "tokenomist.request_fingerprint": "req-1",
        "tokenomist.prefix_fingerprint": "pre-1",
        "tokenomist.prefix_tokens": 2048,
    }
    (row,) = rows_of(export([span]))
    assert (row["request_fingerprint"], row["prefix_fingerprint"], row["prefix_tokens"]) == (
        "req-1", "pre-1", 2048,
    )  # fmt: skip
    (off,) = rows_of(export([openlit_span()]), derive_fingerprints=False)
    assert (off["request_fingerprint"], off["prefix_fingerprint"], off["prefix_tokens"]) == (
        None, None, None,
    )  # fmt: skip


def test_prompt_events_from_the_sdk_over_protobuf():
    """Older conventions put the prompt in span events: ``gen_ai.content.prompt`` (attribute
    ``gen_ai.prompt``) or one ``gen_ai.{role}.message`` event per message."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    usage = {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
             "gen_ai.usage.input_tokens": 3400, "gen_ai.usage.output_tokens": 9}  # fmt: skip
    prompt = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "hi"}]
    for _ in range(2):
        with tracer.start_as_current_span("chat") as span:
            span.set_attributes(usage)
            event = {"gen_ai.prompt": orjson.dumps(prompt).decode()}
            span.add_event("gen_ai.content.prompt", event)
    with tracer.start_as_current_span("chat") as span:
        span.set_attributes(usage)
        span.add_event("gen_ai.system.message", {"content": SYSTEM_PROMPT})
        span.add_event("gen_ai.user.message", {"content": "hi"})
    body = encode_spans(memory.get_finished_spans()).SerializeToString()
    rows = otlp.parse(body, protobuf=True).table.to_pylist()
    assert len(rows) == 3 and all(r["request_fingerprint"] for r in rows)
    assert rows[0]["request_fingerprint"] == rows[1]["request_fingerprint"]
    assert rows[0]["prefix_fingerprint"] == rows[1]["prefix_fingerprint"]
    assert rows[2]["prefix_fingerprint"] and rows[2]["prefix_tokens"] > 3000


async def test_real_openllmetry_export_gives_repeat_and_prefix_fingerprints(embedded_server):
    """A captured OpenLLMetry 0.62.4 export (fixtures/otlp_openllmetry_0.62.4.md): the same
    system prompt and tools thrice, the same question twice, posted as the SDK sends it."""
    srv = embedded_server
    user = await register(srv.url)
    body = (FIXTURES / "otlp_openllmetry_0.62.4.pb").read_bytes()
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
        resp = await client.post(
            "/v1/traces",
            content=body,
            headers={**user.headers, "Content-Type": "application/x-protobuf"},
        )
    assert resp.status_code == 200, resp.text
    first, again, other = await stored(srv, user.org_id)
    assert first["request_fingerprint"] == again["request_fingerprint"]
    assert other["request_fingerprint"] not in ("", first["request_fingerprint"])
    assert first["prefix_fingerprint"] == again["prefix_fingerprint"] == other["prefix_fingerprint"]
    assert 3200 <= int(first["prefix_tokens"]) < 3320  # the system prompt + tool, not the turn
    assert [int(r["cached_input_tokens"]) for r in (first, again, other)] == [0, 3200, 3200]
    assert (first["provider"], first["model"], first["finish_reason"]) == (
        "openai", "gpt-4o-2024-08-06", "stop",
    )  # fmt: skip


async def test_real_litellm_export_keeps_truncation_cached_tokens_and_cost(embedded_server):
    """A captured LiteLLM 1.110.2 OTel export (fixtures/otlp_litellm_1.110.2.md): finish reasons
    as a JSON string, ``metadata.usage_object`` as a Python repr, two identical calls."""
    srv = embedded_server
    user = await register(srv.url)
    body = (FIXTURES / "otlp_litellm_1.110.2.pb").read_bytes()
    parsed = otlp.parse(body, protobuf=True)
    assert parsed.skipped == {otlp.SKIPPED_NO_USAGE: 2}  # the raw_gen_ai_request spans
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
        resp = await client.post(
            "/v1/traces",
            content=body,
            headers={**user.headers, "Content-Type": "application/x-protobuf"},
        )
    assert resp.status_code == 200, resp.text
    rows = await stored(srv, user.org_id)
    assert len(rows) == 2
    for row in rows:
        assert (row["provider"], row["model"]) == ("openai", "gpt-4o-mini-2024-07-18")
        assert row["finish_reason"] == "length"
        assert (int(row["input_tokens"]), int(row["cached_input_tokens"])) == (1200, 1024)
        assert row["reported_cost_usd"] == pytest.approx(0.0001416)
    assert rows[0]["request_fingerprint"] == rows[1]["request_fingerprint"] != ""
    assert rows[0]["prefix_fingerprint"] == rows[1]["prefix_fingerprint"] != ""


def test_python_repr_attributes_are_read_as_literals_never_evaluated():
    assert decoded("{'a': {'b': 1}, 'c': None}") == {"a": {"b": 1}, "c": None}
    assert decoded('["length"]') == ["length"]
    assert decoded("[__import__('os').getcwd()]") == "[__import__('os').getcwd()]"
    assert decoded("{unbalanced") == "{unbalanced"
    assert decoded("[" * 100_000) == "[" * 100_000  # too long: left as a string
    assert decoded("plain") == "plain"


@pytest.mark.parametrize(
    "messages",
    [
        '[{"role": "system", "content": {1: "int key"}}, {"role": "user", "content": "q"}]',
        '[{"role": "user", "content": b"bytes"}]',
        '[{"role": "user", "content": {1, 2}}]',
        '[{"role": "user", "content": 10**30}]',
        '[{"role": "user", "content": 1000000000000000000000000000000}]',
        '[{"role": "system", "content": {(1, 2): "tuple key"}}]',
    ],
)
def test_content_json_cannot_hold_still_gets_a_fingerprint(messages: str) -> None:
    # A Python-literal attribute (LiteLLM's repr style) may decode to values JSON has no type
    # for; hashing them raised TypeError, which would turn the whole span batch into a 500.
    span = openlit_span()
    span["attrs"]["gen_ai.input.messages"] = messages
    [row] = rows_of(export([span]))
    assert row["request_fingerprint"]
