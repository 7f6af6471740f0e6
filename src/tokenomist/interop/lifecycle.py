"""Interop start/stop: the MCP server's session manager runs for the app's whole life (the
SDK requires its ``run()`` context to be open while requests are served)."""

from __future__ import annotations

from tokenomist.kit.resources import Resources


async def start(resources: Resources) -> None:
    from tokenomist.interop.mcp import McpService

    service = McpService()
    await service.start()
    resources.mcp = service


async def stop(resources: Resources) -> None:
    service, resources.mcp = resources.mcp, None
    if service is not None:
        await service.stop()
