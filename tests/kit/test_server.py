"""Connection hygiene of the HTTP server (kit/server.py), over raw loopback sockets against the
app under the same uvicorn protocol `tokenomist serve` runs: oversized heads are answered and
closed, stalled and idle sockets are closed after the header timeout."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from tests.support.env import TEST_JWT_SECRET
from tests.support.servers import LiveServer, live_server
from tokenomist.settings import Environment, Settings

HEADER_TIMEOUT_S = 1.0
READ_BOUND_S = 30.0  # a generous bound on waiting for the server, never a timing assertion
WS_UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)
PLAIN_GET = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture(scope="module")
async def srv(tmp_path_factory, chdb_dir) -> AsyncIterator[LiveServer]:
    settings = Settings(
        _env_file=None,
        environment=Environment.test,
        data_dir=tmp_path_factory.mktemp("server-data"),
        chdb_dir=chdb_dir,
        analytics_database=f"t_{uuid.uuid4().hex[:12]}",
        jwt_secret=TEST_JWT_SECRET,
        http_header_timeout_s=HEADER_TIMEOUT_S,
    )
    async with live_server(settings) as server:
        yield server


async def exchange(srv: LiveServer, raw: bytes) -> bytes:
    """Send ``raw`` on a fresh connection and read until the server closes it (bounded)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), READ_BOUND_S)  # read() = until EOF
    finally:
        writer.close()


def status_and_body(answer: bytes) -> tuple[int, dict, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), orjson.loads(body), headers.get(b"connection", b"")


@pytest.mark.parametrize("request_head", [PLAIN_GET, WS_UPGRADE], ids=["http", "websocket"])
async def test_header_line_over_8_kib_is_answered_431_and_closed(srv, request_head):
    answer = await exchange(srv, request_head + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n")
    status, body, connection = status_and_body(answer)
    assert (status, body["error"]["code"], connection) == (431, "header_too_large", b"close")
    assert "8192" in body["error"]["message"]


@pytest.mark.parametrize("request_head", [PLAIN_GET, WS_UPGRADE], ids=["http", "websocket"])
async def test_more_than_128_headers_is_answered_431_and_closed(srv, request_head):
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    answer = await exchange(srv, request_head + many + b"\r\n")
    status, body, connection = status_and_body(answer)
    assert (status, body["error"]["code"], connection) == (431, "too_many_headers", b"close")


@pytest.mark.parametrize("request_head", [PLAIN_GET, WS_UPGRADE], ids=["http", "websocket"])
async def test_unterminated_header_line_is_refused_as_it_grows(srv, request_head):
    """A line that never ends is not buffered until the timeout: it is refused once it passes
    the cap (the answer comes before the header timeout would send a 408)."""
    answer = await exchange(srv, request_head + b"X-Big: " + b"a" * 20000)
    status, body, _ = status_and_body(answer)
    assert (status, body["error"]["code"]) == (431, "header_too_large")


async def test_request_line_over_the_cap_is_414(srv):
    answer = await exchange(srv, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status, body, connection = status_and_body(answer)
    assert (status, body["error"]["code"], connection) == (414, "uri_too_long", b"close")


async def test_headers_within_the_caps_are_served(srv):
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(100)) + b"X-Big: " + b"a" * 8000
    answer = await exchange(srv, PLAIN_GET + headers + b"\r\nConnection: close\r\n\r\n")
    status, body, _ = status_and_body(answer)
    assert (status, body) == (200, {"status": "alive"})


async def test_stalled_request_line_is_closed_after_the_header_timeout(srv):
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    try:
        writer.write(b"GET /health/li")  # half a request line, then nothing
        await writer.drain()
        async with httpx.AsyncClient(base_url=srv.url, timeout=READ_BOUND_S) as client:
            assert (await client.get("/health/live")).status_code == 200  # others are served
        answer = await asyncio.wait_for(reader.read(), READ_BOUND_S)
    finally:
        writer.close()
    status, body, connection = status_and_body(answer)
    assert (status, body["error"]["code"], connection) == (408, "header_timeout", b"close")


async def test_stalled_websocket_upgrade_is_closed_after_the_header_timeout(srv):
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    try:
        writer.write(WS_UPGRADE)  # the head never ends
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), READ_BOUND_S)
    finally:
        writer.close()
    assert status_and_body(answer)[0] == 408


async def test_idle_connection_is_closed_without_an_answer(srv):
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    try:
        assert await asyncio.wait_for(reader.read(), READ_BOUND_S) == b""
    finally:
        writer.close()


async def test_many_idle_connections_are_all_closed_while_requests_succeed(srv):
    opened = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(50)]
    try:
        async with httpx.AsyncClient(base_url=srv.url, timeout=READ_BOUND_S) as client:
            assert (await client.get("/health/live")).status_code == 200
        closed = await asyncio.wait_for(
            asyncio.gather(*(reader.read() for reader, _ in opened)), READ_BOUND_S
        )
        assert closed == [b""] * 50
    finally:
        for _, writer in opened:
            writer.close()


async def test_keep_alive_requests_on_one_connection_are_served(srv):
    """The head timer restarts per request: a reused connection is not cut mid-stream."""
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    try:
        for _ in range(3):
            writer.write(PLAIN_GET + b"\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_BOUND_S)
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            assert head.startswith(b"HTTP/1.1 200")
            assert orjson.loads(await reader.readexactly(length)) == {"status": "alive"}
    finally:
        writer.close()
