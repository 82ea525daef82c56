"""A one-tool MCP server on the official `mcp` SDK's low-level server, the least any server on
the SDK pays: `python -m bench.one_tool_lowlevel` serves it over stdio."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as mt
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

ECHO = mt.Tool(
    name="echo",
    description="Return the text.",
    input_schema={
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    },
)


async def list_tools(ctx: Any, params: mt.PaginatedRequestParams | None) -> mt.ListToolsResult:
    return mt.ListToolsResult(tools=[ECHO])


async def call_tool(ctx: Any, params: mt.CallToolRequestParams) -> mt.CallToolResult:
    text = str((params.arguments or {}).get("text", ""))
    return mt.CallToolResult(content=[mt.TextContent(type="text", text=text)])


server: Server[Any] = Server("one-tool", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
