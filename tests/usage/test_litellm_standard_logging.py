"""LiteLLM's StandardLoggingPayload (what its logging callbacks receive) is recognised without
``?format=`` and mapped like a spend-log row: id, float epoch times, response_cost, the user
request parameter, cache tokens from ``metadata.usage_object``, tags. The fixture follows the
payload's fields as LiteLLM documents them (docs/proxy/logging_spec.md, types/utils.py)."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest

from tests.support.usage import FIXTURES, PASSWORD
from tokenomist.usage import formats
from tokenomist.usage.formats import ImportOptions

RAW = (FIXTURES / "litellm_standard_logging.json").read_bytes()
PAYLOADS = orjson.loads(RAW)
NDJSON = b"\n".join(orjson.dumps(p) for p in PAYLOADS) + b"\n"


def parse(data: bytes):
    fmt = formats.detect(data)
    parsed = fmt.parse(data, ImportOptions())
    return fmt.NAME, parsed.table.to_pylist(), [e.as_dict() for e in parsed.errors]


@pytest.mark.parametrize(
    "data",
    [
        RAW,  # a JSON array, pretty-printed
        NDJSON,  # one payload a line, as a callback appends them
        orjson.dumps(PAYLOADS[0], option=orjson.OPT_INDENT_2),  # one pretty-printed object
        orjson.dumps(PAYLOADS[0]),  # one compact object
    ],
    ids=["array", "ndjson", "object-pretty", "object-compact"],
)
def test_standard_logging_payload_is_detected_as_litellm(data):
    name, rows, _errors = parse(data)
    assert name == "litellm"
    assert rows and rows[0]["request_id"] == "litellm:chatcmpl-slp-1"


def test_standard_logging_payload_fields_map_to_the_row():
    _name, rows, errors = parse(RAW)
    # the payload the proxy answered from its own cache made no provider call
    assert errors == [
        {"index": 2, "field": "cache_hit",
         "message": "served from the LiteLLM cache: no provider call to price"},
    ]  # fmt: skip
    openai, anthropic, failed = rows
    assert {k: openai[k] for k in (
        "request_id", "provider", "model", "input_tokens", "output_tokens",
        "cached_input_tokens", "cache_write_tokens", "latency_ms", "status", "project",
        "feature", "end_user", "reported_cost_usd",
    )} == {
        "request_id": "litellm:chatcmpl-slp-1", "provider": "openai", "model": "gpt-4o",
        "input_tokens": 1100, "output_tokens": 200,
        "cached_input_tokens": 1024,  # usage_object.prompt_tokens_details.cached_tokens
        "cache_write_tokens": 0,
        "latency_ms": pytest.approx(1250.0),  # endTime - startTime, float epoch seconds
        "status": "success", "project": "search-team", "feature": "query-rewrite",
        "end_user": "customer-42",  # model_parameters.user wins over end_user
        "reported_cost_usd": 0.0041,  # response_cost
    }  # fmt: skip
    assert openai["timestamp"].isoformat() == "2026-10-05T10:00:00+00:00"
    assert orjson.loads(openai["metadata"])["trace_id"] == "trace-chatcmpl-slp-1"
    # Anthropic style: cache reads and writes reported by name
    assert (anthropic["request_id"], anthropic["provider"], anthropic["end_user"]) == (
        "litellm:msg_slp_2", "anthropic", "customer-7",
    )  # fmt: skip
    assert (anthropic["cached_input_tokens"], anthropic["cache_write_tokens"]) == (2000, 1000)
    assert anthropic["input_tokens"] == 3500 and anthropic["feature"] == "drafts"
    assert (failed["status"], failed["latency_ms"], failed["end_user"]) == ("error", 30000.0, None)


def test_spend_log_rows_still_map_as_before():
    _name, rows, _errors = parse((FIXTURES / "litellm.json").read_bytes())
    assert rows[0]["request_id"] == "litellm:chatcmpl-111"
    assert rows[0]["reported_cost_usd"] == 0.00425
    assert rows[0]["end_user"] == "customer-42"


@pytest.fixture
async def client(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        yield c


async def test_standard_logging_payload_imports_over_http_without_a_format(server, client):
    email = f"slp-{uuid.uuid4().hex[:10]}@example.com"
    resp = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    user = {"Authorization": f"Bearer {body['access_token']}"}
    resp = await client.post("/api/v1/usage/import", content=NDJSON, headers=user)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert (report["format"], report["accepted"], report["rejected"], report["unpriced"]) == (
        "litellm", 3, 1, 0,
    )  # fmt: skip
    assert report["errors"][0]["field"] == "cache_hit"
    stored = await server.resources.org_usage(body["user"]["org"]["id"]).query(
        "SELECT request_id, provider, cached_input_tokens, cache_write_tokens, end_user, "
        "feature, reported_cost_usd, cost_usd FROM {usage} ORDER BY request_id"
    )
    by_id = {r["request_id"]: r for r in stored}
    assert sorted(by_id) == [
        "litellm:chatcmpl-slp-1", "litellm:chatcmpl-slp-4", "litellm:msg_slp_2",
    ]  # fmt: skip
    first = by_id["litellm:chatcmpl-slp-1"]
    assert (first["end_user"], first["feature"], first["reported_cost_usd"]) == (
        "customer-42", "query-rewrite", 0.0041,
    )  # fmt: skip
    assert int(first["cached_input_tokens"]) == 1024 and first["cost_usd"] > 0
    second = by_id["litellm:msg_slp_2"]
    assert (int(second["cached_input_tokens"]), int(second["cache_write_tokens"])) == (2000, 1000)
    # the same payloads again are the same calls: idempotent on the LiteLLM id
    again = (await client.post("/api/v1/usage/import", content=RAW, headers=user)).json()
    assert (again["format"], again["accepted"], again["duplicates"]) == ("litellm", 0, 3)
