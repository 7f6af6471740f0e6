"""The loop's readiness wait against a real (tiny) HTTP server."""

from __future__ import annotations

import asyncio

from tokenomist.verify.loop import wait_ready


async def test_a_200_that_is_not_a_health_body_is_not_ready() -> None:
    """A maintenance page answering 200 HTML (an edge in front of a build still starting)."""

    async def page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b"<html>down for maintenance</html>"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(page, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await wait_ready(f"http://127.0.0.1:{port}", 1.0)
    finally:
        server.close()
    assert not result.ok
    assert result.detail == (
        "not ready within 1s; last probe: 200 without a health body: "
        "<html>down for maintenance</html>"
    )
