"""Interop with the ecosystem: an MCP server, an AG-UI stream and a FOCUS cost export."""
