"""A one-tool MCP server on `fastmcp`, for scale: `python -m bench.one_tool_fastmcp`."""

from __future__ import annotations

from fastmcp import FastMCP

server: FastMCP = FastMCP("one-tool")


@server.tool
def echo(text: str) -> str:
    """Return the text."""
    return text


if __name__ == "__main__":
    server.run("stdio", show_banner=False)
