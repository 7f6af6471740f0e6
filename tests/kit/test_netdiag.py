"""The real cause of a dependency failure, from real failures (no synthetic exceptions where a
real one can be produced on this machine)."""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest
import redis.asyncio as aioredis

from tests.support.servers import free_port
from tokenomist.kit.netdiag import classify, describe, mask_url


async def test_unresolvable_host_is_dns_not_refused():
    with pytest.raises(OSError) as info:
        await asyncio.get_running_loop().getaddrinfo("nonexistent.invalid", 6379)
    cause = classify(info.value)
    assert cause.kind == "dns"
    assert "EAI_NONAME" in cause.message or "EAI_AGAIN" in cause.message


async def test_redis_client_dns_failure_is_dns():
    # redis-py wraps the gaierror as "Error -2 connecting to ..." — the case operators misread.
    client = aioredis.Redis.from_url("redis://nonexistent.invalid:6379/0", socket_timeout=2)
    with pytest.raises(aioredis.ConnectionError) as info:
        await client.ping()
    await client.aclose()
    assert classify(info.value).kind == "dns"


async def test_closed_port_is_refused():
    port = free_port()
    with pytest.raises(OSError) as info:
        await asyncio.open_connection("127.0.0.1", port)
    assert classify(info.value).kind == "refused"


async def test_redis_client_closed_port_is_refused():
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=2)
    with pytest.raises(aioredis.ConnectionError) as info:
        await client.ping()
    await client.aclose()
    assert classify(info.value).kind == "refused"


async def test_silent_server_is_timeout():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        with pytest.raises(TimeoutError) as info:
            await asyncio.wait_for(reader.read(1), timeout=0.2)
        writer.close()
    finally:
        server.close()
    assert classify(info.value).kind == "timeout"


async def test_tls_to_plain_tcp_server_is_tls():
    async def answer_plain(reader, writer):
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ssl.SSLError) as info:
            await asyncio.open_connection(
                "127.0.0.1", port, ssl=ssl.create_default_context(), server_hostname="localhost"
            )
    finally:
        server.close()
    assert classify(info.value).kind == "tls"


async def test_redis_wrong_password_is_auth(redis_url):
    # The test Redis has no password: AUTH with one is answered with an auth error.
    url = redis_url.replace("redis://", "redis://someone:wrong@")
    client = aioredis.Redis.from_url(url, socket_timeout=2)
    with pytest.raises(aioredis.RedisError) as info:
        await client.ping()
    await client.aclose()
    assert classify(info.value).kind == "auth"


def test_cause_found_through_exception_chain():
    try:
        try:
            socket.getaddrinfo("nonexistent.invalid", 80)
        except OSError as inner:
            raise RuntimeError("could not connect") from inner
    except RuntimeError as outer:
        assert classify(outer).kind == "dns"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        (
            "postgresql+asyncpg://app:p%40ss@db.internal:5432/tk",
            "postgresql+asyncpg://app:***@db.internal:5432/tk",
        ),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("redis://:s3cret@cache:63x9/0", "redis://:***@cache:63x9/0"),  # a typo'd port
        ("postgresql://u:s3cret@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"),
    ],
)
def test_mask_url_hides_only_the_password(url, masked):
    assert mask_url(url) == masked


def test_describe_names_dependency_address_and_cause():
    exc = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    line = describe("Redis", "redis://:pw@cache:6379/0", exc)
    assert line == (
        "Redis at redis://:***@cache:6379/0 unreachable: DNS lookup failed (EAI_AGAIN): "
        "Temporary failure in name resolution"
    )
