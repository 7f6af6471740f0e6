"""The usage HTTP API over real HTTP (uvicorn on a free port), on both SQL backends: ingest with
user tokens and API keys, file import (raw body and multipart), the exact error codes of bad
input, and the summary per DESIGN §4 with org isolation."""

from __future__ import annotations

import httpx
import pytest

from tests.support.servers import live_server
from tests.support.usage import AZURE_CODE, FIXTURES, account, api_key, error_code, require_azure

NDJSON = (FIXTURES / "canonical.ndjson").read_bytes()


@pytest.fixture
async def client(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        yield c


async def test_post_usage_json_array_and_ndjson(client):
    user = await account(client)
    body = (FIXTURES / "canonical.json").read_bytes()
    resp = await client.post(
        "/api/v1/usage", content=body, headers={**user, "Content-Type": "application/json"}
    )
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert {k: report[k] for k in ("accepted", "duplicates", "rejected", "unpriced")} == {
        "accepted": 4, "duplicates": 0, "rejected": 0, "unpriced": 1,
    }  # fmt: skip
    resp = await client.post(
        "/api/v1/usage", content=NDJSON, headers={**user, "Content-Type": "application/x-ndjson"}
    )
    assert resp.json()["accepted"] == 3
    resp = await client.post("/api/v1/usage", content=NDJSON, headers=user)
    assert (resp.json()["accepted"], resp.json()["duplicates"]) == (0, 3)


async def test_post_usage_keeps_valid_rows_and_reports_bad_ones(client):
    user = await account(client)
    resp = await client.post(
        "/api/v1/usage", content=(FIXTURES / "bad.ndjson").read_bytes(), headers=user
    )
    assert resp.status_code == 200
    report = resp.json()
    assert (report["accepted"], report["rejected"]) == (2, 8)
    assert [e["index"] for e in report["errors"]] == [2, 3, 4, 5, 6, 7, 8, 10]
    assert report["errors"][0] == {
        "index": 2, "field": "input_tokens", "message": "must not be negative",
    }  # fmt: skip
    assert report["errors"][-1] == {
        "index": 10,
        "field": "",
        "message": "not valid UTF-8 (byte 131)",
    }


async def test_post_usage_where_every_row_is_invalid_is_a_report_not_a_500(client):
    user = await account(client)
    resp = await client.post("/api/v1/usage", content=b"{}\n{}\n{}\n", headers=user)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (0, 0, 3)
    assert report["errors"] == [
        {"index": i, "field": "timestamp", "message": "is required"} for i in (1, 2, 3)
    ]


async def test_ingest_needs_a_credential_with_the_ingest_scope(client):
    resp = await client.post("/api/v1/usage", content=NDJSON)
    assert (resp.status_code, error_code(resp)) == (401, "not_authenticated")
    user = await account(client)
    read_only = await api_key(client, user, ["read"])
    resp = await client.post("/api/v1/usage", content=NDJSON, headers={"X-API-Key": read_only})
    assert (resp.status_code, error_code(resp)) == (403, "insufficient_scope")
    ingest = await api_key(client, user, ["ingest"])
    resp = await client.post("/api/v1/usage", content=NDJSON, headers={"X-API-Key": ingest})
    assert resp.status_code == 200 and resp.json()["accepted"] == 3
    # an ingest-only key cannot read the summary; the user can, and sees the key's rows
    resp = await client.get("/api/v1/usage/summary", headers={"X-API-Key": ingest})
    assert (resp.status_code, error_code(resp)) == (403, "insufficient_scope")
    resp = await client.get("/api/v1/usage/summary", headers=user)
    assert resp.json()["totals"]["requests"] == 3


async def test_import_raw_body_and_multipart(client):
    user = await account(client)
    resp = await client.post(
        "/api/v1/usage/import", params={"format": "litellm"},
        content=(FIXTURES / "litellm.json").read_bytes(), headers=user,
    )  # fmt: skip
    assert resp.status_code == 200
    assert (resp.json()["format"], resp.json()["accepted"], resp.json()["rejected"]) == (
        "litellm", 3, 1,
    )  # fmt: skip
    files = {"file": ("usage.json", (FIXTURES / "openai_usage.json").read_bytes())}
    resp = await client.post("/api/v1/usage/import", files=files, headers=user)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["format"], resp.json()["accepted"]) == ("openai-usage", 11)
    resp = await client.post("/api/v1/usage/import", files={"other": ("x", b"1")}, headers=user)
    assert (resp.status_code, error_code(resp)) == (422, "validation_error")


async def test_import_bad_input_codes(client):
    user = await account(client)
    resp = await client.post(
        "/api/v1/usage/import", params={"format": "parquet"}, content=NDJSON, headers=user
    )
    assert (resp.status_code, error_code(resp)) == (422, "unknown_format")
    assert resp.json()["error"]["details"]["known_formats"] == [
        "canonical", "openai-usage", "otlp", "litellm", "azure-trace",
    ]  # fmt: skip
    resp = await client.post("/api/v1/usage/import", content=b"just some words\n", headers=user)
    assert (resp.status_code, error_code(resp)) == (422, "unknown_format")
    resp = await client.post(
        "/api/v1/usage/import", params={"format": "otlp"}, content=b"{not json", headers=user
    )
    assert (resp.status_code, error_code(resp)) == (422, "unparseable_input")
    azure = b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"
    resp = await client.post("/api/v1/usage/import", content=azure, headers=user)
    assert (resp.status_code, error_code(resp)) == (422, "missing_import_option")
    resp = await client.post(
        "/api/v1/usage/import",
        params={"provider": "openai", "model": "gpt-4o", "project": "p"},
        content=azure,
        headers=user,
    )
    assert resp.json()["accepted"] == 1


async def test_import_real_azure_code_trace(client):
    data = require_azure(AZURE_CODE).read_bytes()
    user = await account(client)
    params = {"format": "azure-trace", "provider": "azure", "model": "gpt-4o", "project": "code"}
    resp = await client.post("/api/v1/usage/import", params=params, content=data, headers=user)
    assert resp.status_code == 200
    report = resp.json()
    assert (report["accepted"], report["rejected"], report["unpriced"]) == (8_819, 0, 0)
    summary = (
        await client.get("/api/v1/usage/summary", params={"group_by": "provider"}, headers=user)
    ).json()
    assert summary["groups"][0]["key"] == "azure"
    assert summary["totals"]["requests"] == 8_819
    assert summary["totals"]["cost_usd"] == pytest.approx(report["cost_usd"])


async def test_summary_shape_isolation_and_validation(client):
    alice, bob = await account(client), await account(client)
    await client.post("/api/v1/usage", content=(FIXTURES / "canonical.json").read_bytes(),
                      headers=alice)  # fmt: skip
    await client.post("/api/v1/usage", content=NDJSON, headers=bob)
    resp = await client.get(
        "/api/v1/usage/summary",
        params={"from": "2026-10-01T00:00:00Z", "to": "2026-10-02T00:00:00Z",
                "group_by": "model"},
        headers=alice,
    )  # fmt: skip
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"from", "to", "group_by", "totals", "groups"}
    assert body["from"].startswith("2026-10-01T00:00:00")
    assert body["totals"] == {
        "requests": 4, "input_tokens": 7200, "cached_input_tokens": 4024, "output_tokens": 1160,
        # the batch row predates the batch price in the data (2026-10-14): OpenAI batch is
        # standard x 0.5 since 2024-04-15 (tier_relations.toml)
        "cost_usd": pytest.approx(0.00472 + 0.01965 + 0.000165 * 0.5), "unpriced_requests": 1,
    }  # fmt: skip
    assert set(body["groups"][0]) == {
        "key", "requests", "input_tokens", "cached_input_tokens", "output_tokens", "cost_usd",
        "unpriced_requests",
    }  # fmt: skip
    keys = {g["key"]: g for g in body["groups"]}
    assert keys["brainiac-9000"]["cost_usd"] is None
    # bob sees only bob's rows
    bob_summary = (await client.get("/api/v1/usage/summary", headers=bob)).json()
    assert bob_summary["totals"]["requests"] == 3
    resp = await client.get("/api/v1/usage/summary", params={"group_by": "colour"}, headers=bob)
    assert (resp.status_code, error_code(resp)) == (422, "validation_error")
    resp = await client.get(
        "/api/v1/usage/summary", params={"from": "2026-10-02", "to": "2026-10-01"}, headers=bob
    )
    assert (resp.status_code, error_code(resp)) == (422, "validation_error")
    resp = await client.get("/api/v1/usage/summary")
    assert resp.status_code == 401


async def test_body_over_the_limit_is_413(make_settings):
    async with (
        live_server(make_settings(max_body_bytes=2048)) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=30) as client,
    ):
        user = await account(client)
        big = NDJSON * 20
        assert len(big) > 2048
        resp = await client.post("/api/v1/usage", content=big, headers=user)
        assert (resp.status_code, error_code(resp)) == (413, "payload_too_large")
        assert resp.json()["error"]["details"] == {"limit_bytes": 2048}

        async def chunks():  # no Content-Length: the limit holds on the stream too
            for _ in range(20):
                yield NDJSON

        resp = await client.post("/api/v1/usage/import", content=chunks(), headers=user)
        assert (resp.status_code, error_code(resp)) == (413, "payload_too_large")
        resp = await client.post("/api/v1/usage", content=NDJSON, headers=user)
        assert resp.status_code == 200


async def test_import_of_a_csv_with_a_typo_in_its_header_names_it_and_says_format_param(client):
    user = await account(client)
    body = b"timestamp,provider,model,input_tokns\n2026-10-01T00:00:00Z,openai,gpt-4o,10\n"
    resp = await client.post("/api/v1/usage/import", content=body, headers=user)
    assert (resp.status_code, error_code(resp)) == (422, "unknown_format")
    error = resp.json()["error"]
    assert error["message"] == (
        "could not recognise the input format: it looks like the canonical CSV but column "
        "`input_tokns` is unknown (did you mean `input_tokens`?); fix the header, or pass "
        "?format=canonical to read it as canonical (known formats: canonical, openai-usage, "
        "otlp, litellm, azure-trace)"
    )
    assert error["details"]["suggestions"] == {"input_tokns": "input_tokens"}


@pytest.mark.parametrize("body", [b"", b"\n \n"])
async def test_import_of_an_empty_file_says_it_is_empty(client, body):
    user = await account(client)
    for params in ({}, {"format": "auto"}, {"format": "canonical"}, {"format": "otlp"}):
        resp = await client.post("/api/v1/usage/import", params=params, content=body, headers=user)
        assert (resp.status_code, error_code(resp)) == (422, "empty_input"), params
        assert resp.json()["error"]["message"].startswith("the file is empty ("), params
    files = {"file": ("usage.csv", body)}
    resp = await client.post("/api/v1/usage/import", files=files, headers=user)
    assert (resp.status_code, error_code(resp)) == (422, "empty_input")
    resp = await client.post("/api/v1/usage", content=body, headers=user)
    assert (resp.status_code, error_code(resp)) == (422, "empty_input")
    assert resp.json()["error"]["message"].startswith("the request body is empty (")


async def test_import_of_a_csv_header_without_rows_imports_nothing(client):
    user = await account(client)
    resp = await client.post(
        "/api/v1/usage/import",
        content=b"timestamp,provider,model,input_tokens,output_tokens\n",
        headers=user,
    )
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert (report["format"], report["accepted"], report["rejected"], report["skipped"]) == (
        "canonical", 0, 0, {},
    )  # fmt: skip


async def test_import_with_format_auto_detects_it(client):
    user = await account(client)
    resp = await client.post(
        "/api/v1/usage/import", params={"format": "auto"}, content=NDJSON, headers=user
    )
    assert resp.status_code == 200, resp.text
    assert (resp.json()["format"], resp.json()["accepted"]) == ("canonical", 3)


async def test_import_names_the_position_of_an_extra_csv_value(client):
    user = await account(client)
    body = (
        b"timestamp,provider,model,input_tokens,output_tokens\n"
        b"2026-10-01T00:00:00Z,openai,gpt-4o,10,1\n"
        b"2026-10-01T00:00:01Z,openai,gpt-4o,10,1,7\n"
    )
    resp = await client.post("/api/v1/usage/import", content=body, headers=user)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert (report["accepted"], report["rejected"]) == (1, 1)
    assert report["errors"] == [
        {"index": 3, "field": "(extra value 6)",
         "message": "6 values but the header names 5 columns; extra: '7'"},
    ]  # fmt: skip


async def test_import_reports_skipped_rows_per_reason(client):
    user = await account(client)
    resp = await client.post(
        "/api/v1/usage/import", content=(FIXTURES / "otlp.json").read_bytes(), headers=user
    )
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert (report["format"], report["accepted"], report["rejected"]) == ("otlp", 2, 0)
    assert report["skipped"] == {"span_without_genai_usage": 1}
    resp = await client.post("/api/v1/usage", content=NDJSON, headers=user)
    assert resp.json()["skipped"] == {}  # nothing skipped: the key is there, empty
