"""The clients' MCP side (`McpPool`, which Jamie and Scarlet use) as the conformance suite's
client under test: `python -m tests.conformance.pool_client <server-url>`.

It does what Jamie does with a server: connect, list the tools, and call them; each tool is
called once with arguments made from its input schema (numbers 1, strings "x").
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool

SAMPLES: dict[str, Any] = {"number": 1, "integer": 1, "string": "x", "boolean": True}


def arguments_for(schema: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    return {
        name: SAMPLES.get(str(properties.get(name, {}).get("type")), "x")
        for name in schema.get("required", [])
    }


async def main(url: str) -> int:
    async with McpPool([HttpEndpoint("conformance", url)], call_timeout=20) as pool:
        status = pool.status()[0]
        if not status.up:
            print(f"not connected: {status.reason}", file=sys.stderr)
            return 1
        for tool in pool.tools():
            result = await pool.call(tool.name, arguments_for(tool.input_schema))
            print(f"{tool.remote_name}: {result.outcome}: {result.text[:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[-1])))
