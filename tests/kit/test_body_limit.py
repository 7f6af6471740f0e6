"""Request bodies are cut at their route's limit while they are read (kit/body_limit.py): raw
loopback sockets, chunked and with Content-Length, against the app under uvicorn."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from tests.support.env import TEST_JWT_SECRET
from tests.support.rawhttp import SEND_AT_MOST, Upload, open_temp_files, parse
from tests.support.servers import LiveServer, live_server
from tokenomist.settings import Environment, Settings

INGEST_LIMIT = 4 * 1024 * 1024  # above Starlette's 1 MiB spool threshold: spooling hits disk
API_LIMIT = 64 * 1024
CHUNK = 256 * 1024
READ_BOUND_S = 30.0
BOUNDARY = "tkboundary"
PASSWORD = "correct horse battery staple 42"


@pytest.fixture(scope="module")
async def srv(tmp_path_factory, chdb_dir) -> AsyncIterator[LiveServer]:
    settings = Settings(
        _env_file=None,
        environment=Environment.test,
        data_dir=tmp_path_factory.mktemp("body-data"),
        chdb_dir=chdb_dir,
        analytics_database=f"t_{uuid.uuid4().hex[:12]}",
        jwt_secret=TEST_JWT_SECRET,
        max_body_bytes=INGEST_LIMIT,
        max_api_body_bytes=API_LIMIT,
    )
    async with live_server(settings) as server:
        yield server


@pytest.fixture(scope="module")
async def token(srv) -> str:
    async with httpx.AsyncClient(base_url=srv.url, timeout=READ_BOUND_S) as client:
        email = f"limits-{uuid.uuid4().hex[:10]}@example.com"
        resp = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert resp.status_code == 201, resp.text
        return resp.json()["access_token"]


async def test_chunked_multipart_upload_is_cut_at_the_limit_and_never_spooled_past_it(
    srv, token, tmp_path, monkeypatch
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the parser spools
    upload = Upload(
        srv,
        "/api/v1/usage/import",
        {
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )
    peak = 0

    def sample() -> None:
        nonlocal peak
        peak = max([peak, *open_temp_files(os.getpid(), tmp_path).values()])

    upload.on_chunk = sample
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="u.ndjson"\r\n'
        "Content-Type: application/x-ndjson\r\n\r\n"
    ).encode()
    status, body, headers = await upload.send(part, b"a" * CHUNK)
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    assert body["error"]["details"] == {"limit_bytes": INGEST_LIMIT}
    assert headers["connection"] == "close"
    assert peak <= INGEST_LIMIT
    assert upload.sent < SEND_AT_MOST  # answered mid-upload, not after the whole body
    assert open_temp_files(os.getpid(), tmp_path) == {}  # and the spooled part is gone


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/usage", "application/x-ndjson"),
        ("/api/v1/usage/import", "text/csv"),
        ("/v1/traces", "application/x-protobuf"),
        ("/v1/traces", "application/json"),
    ],
)
async def test_chunked_ingest_body_past_the_limit_is_413(srv, token, path, content_type):
    upload = Upload(srv, path, {"Authorization": f"Bearer {token}", "Content-Type": content_type})
    status, body, headers = await upload.send(b"x" * CHUNK, b"x" * CHUNK)
    assert (status, body["error"]["code"], headers["connection"]) == (
        413,
        "payload_too_large",
        "close",
    )
    assert upload.sent < SEND_AT_MOST


async def test_chunked_json_past_the_api_limit_is_413_not_read_to_the_end(srv):
    upload = Upload(srv, "/auth/login", {"Content-Type": "application/json"})
    status, body, headers = await upload.send(b'{"email": "', b"a" * 16384)
    assert (status, body["error"]["code"], headers["connection"]) == (
        413,
        "payload_too_large",
        "close",
    )
    assert body["error"]["details"] == {"limit_bytes": API_LIMIT}
    assert upload.sent < SEND_AT_MOST


@pytest.mark.parametrize(
    ("path", "declared"),
    [("/auth/login", API_LIMIT + 1), ("/api/v1/usage/import", INGEST_LIMIT + 1)],
)
async def test_content_length_over_the_limit_is_refused_before_the_body(srv, path, declared):
    """Only the head is sent: the answer must come without reading (or waiting for) a body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n".encode()
        )
        await writer.drain()
        status, body, headers = parse(await asyncio.wait_for(reader.read(), READ_BOUND_S))
    finally:
        writer.close()
    assert (status, body["error"]["code"], headers["connection"]) == (
        413,
        "payload_too_large",
        "close",
    )


async def test_bodies_within_the_limits_are_served(srv, token):
    async with httpx.AsyncClient(base_url=srv.url, timeout=READ_BOUND_S) as client:
        record = {
            "timestamp": "2026-10-01T00:00:00Z",
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 10,
            "output_tokens": 5,
        }

        async def chunks():
            yield orjson.dumps(record) + b"\n"

        auth = {"Authorization": f"Bearer {token}"}
        resp = await client.post("/api/v1/usage/import", content=chunks(), headers=auth)
        assert (resp.status_code, resp.json()["accepted"]) == (200, 1)
        files = {"file": ("u.ndjson", orjson.dumps(record) + b"\n")}
        resp = await client.post("/api/v1/usage/import", files=files, headers=auth)
        assert resp.status_code == 200, resp.text
        resp = await client.post("/auth/login", json={"email": "x@example.com", "password": "p"})
        assert resp.status_code == 401
