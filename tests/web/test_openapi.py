"""The OpenAPI document says what the API really accepts and answers, and the docs pages
need nothing but this server."""

from __future__ import annotations

import re

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
async def client(embedded_server):
    async with httpx.AsyncClient(base_url=embedded_server.url, timeout=30) as c:
        yield c


@pytest.fixture
async def doc(client) -> dict:
    resp = await client.get("/openapi.json")
    assert resp.status_code == 200
    return resp.json()


async def test_the_document_is_valid_openapi(doc) -> None:
    validate(doc)


@pytest.mark.parametrize(
    ("path", "media_types"),
    [
        ("/api/v1/usage", {"application/json", "application/x-ndjson", "text/csv"}),
        (
            "/api/v1/usage/import",
            {"application/json", "application/x-ndjson", "text/csv", "multipart/form-data"},
        ),
        ("/v1/traces", {"application/x-protobuf", "application/json"}),
    ],
)
async def test_ingest_endpoints_document_every_body_they_accept(doc, path, media_types) -> None:
    body = doc["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    assert media_types <= set(body["content"])


async def test_canonical_records_are_described_field_by_field(doc) -> None:
    schema = doc["paths"]["/api/v1/usage"]["post"]["requestBody"]["content"]["application/json"]
    record = schema["schema"]["items"]
    assert {"timestamp", "provider", "model", "input_tokens", "output_tokens"} == set(
        record["required"]
    )
    assert record["properties"]["cached_input_tokens"]["type"] == "integer"
    upload = doc["paths"]["/api/v1/usage/import"]["post"]["requestBody"]["content"]
    assert upload["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"


async def test_every_error_answer_is_documented_with_the_error_schema(doc) -> None:
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == ERROR_REF, (method, path, status)
    usage = doc["paths"]["/api/v1/usage"]["post"]["responses"]
    assert {"400", "401", "403", "413", "422", "429"} <= set(usage)
    run = doc["paths"]["/api/v1/runs/{run_id}"]["get"]["responses"]
    assert {"401", "403", "404"} <= set(run)
    assert {"409"} <= set(doc["paths"]["/auth/register"]["post"]["responses"])


async def test_the_error_schema_is_what_the_api_answers(client, doc) -> None:
    schema = {**doc["components"]["schemas"]["Error"], "components": doc["components"]}
    unauthenticated = await client.post("/api/v1/usage", content=b"[]")
    assert unauthenticated.status_code == 401
    jsonschema.validate(unauthenticated.json(), schema)
    invalid = await client.post("/auth/login", json={"email": 3})
    assert invalid.status_code == 422
    jsonschema.validate(invalid.json(), schema)


async def test_streams_and_metrics_name_their_media_types(doc) -> None:
    events = doc["paths"]["/api/v1/runs/{run_id}/events"]["get"]["responses"]
    assert set(events["200"]["content"]) == {"text/event-stream"}
    metrics = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert [m for m in metrics if m.startswith("text/plain; version=0.0.4")]
    otlp = doc["paths"]["/v1/traces"]["post"]["responses"]["200"]["content"]
    assert "application/x-protobuf" in otlp


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_this_servers_assets(client, page) -> None:
    resp = await client.get(page)
    html = resp.text
    # and the browser is told so: a reference to another host in a bundle is not fetched
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    urls = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)["']""", html) + re.findall(
        r"""url:\s*['"]([^'"]+)['"]""", html
    )
    assert urls, html
    assert not [u for u in urls if "//" in u], urls  # no other host, no CDN
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url


async def test_the_documented_csv_example_is_accepted(client, doc) -> None:
    """The example in the document is real input, not prose."""
    from tests.support.usage import account, api_key

    key = await api_key(client, await account(client), ["ingest"])
    content = doc["paths"]["/api/v1/usage"]["post"]["requestBody"]["content"]["text/csv"]
    resp = await client.post(
        "/api/v1/usage", content=content["example"], headers={"X-API-Key": key}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == 1


async def test_the_reconciliation_read_is_documented(doc) -> None:
    op = doc["paths"]["/api/v1/usage/reconciliation"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert {"from", "to", "group_by", "model", "project"} <= set(params)
    assert params["group_by"]["schema"]["enum"] == ["model", "day"]
    assert {"401", "403", "422"} <= set(op["responses"])
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    out = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"from", "to", "group_by", "items", "totals"} <= set(out["properties"])
