"""The loop's readiness wait against a real (tiny) HTTP server."""

from __future__ import annotations

from tests.support.html_server import html_server
from tokenomist.verify.loop import wait_ready


async def test_a_200_that_is_not_a_health_body_is_not_ready() -> None:
    """A maintenance page answering 200 HTML (an edge in front of a build still starting)."""
    page = b"<html>down for maintenance</html>"
    async with html_server(b"200 OK", page) as url:
        result = await wait_ready(url, 1.0)
    assert not result.ok
    assert result.detail == (
        "not ready within 1s; last probe: 200 without a health body: "
        "<html>down for maintenance</html>"
    )
