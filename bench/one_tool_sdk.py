"""The floor: a one-tool MCP server on the official `mcp` SDK, as its documentation writes one.

`python -m bench.one_tool_sdk` serves it over stdio; the start-up bench compares every server
with it.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("one-tool")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


if __name__ == "__main__":
    server.run("stdio")
