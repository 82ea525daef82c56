"""A fake MCP server over stdio with one write tool, for approval tests.

The project's real servers are read-only so far; this one offers `restart_deployment` (not
read-only) and `echo` (read-only), and appends every executed call to the file named by its
first argument, so a test can prove a refused call never ran.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mcp_types as mt
from fastmcp import FastMCP


def build(log: Path) -> FastMCP:
    server = FastMCP("fake-ops")

    def record(tool: str, arguments: dict[str, str]) -> None:
        with log.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")

    @server.tool(annotations=mt.ToolAnnotations(read_only_hint=False, destructive_hint=False))
    def restart_deployment(namespace: str, name: str) -> str:
        """Restart a deployment (rollout restart)."""
        record("restart_deployment", {"namespace": namespace, "name": name})
        return f"deployment {namespace}/{name} restarted"

    @server.tool(annotations=mt.ToolAnnotations(read_only_hint=True))
    def echo(text: str) -> str:
        """Repeat the text."""
        record("echo", {"text": text})
        return text

    return server


if __name__ == "__main__":
    build(Path(sys.argv[1])).run(show_banner=False, log_level="WARNING")
