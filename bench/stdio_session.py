"""A plain MCP stdio client for benchmarks, so client library overhead is not counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

PROTOCOL = "2025-06-18"


def serve_command(server: str, *options: str) -> list[str]:
    """`autodevops serve <server>` over stdio, auditing to nowhere."""
    return [
        sys.executable,
        "-m",
        "autodevops.clients.cli",
        "serve",
        server,
        "--audit-log",
        os.devnull,
        *options,
    ]


class StdioSession:
    """Newline-delimited JSON-RPC over a server's stdin/stdout, as MCP stdio specifies."""

    def __init__(self, server: str, *options: str) -> None:
        self._spawn(serve_command(server, *options))

    @classmethod
    def of(cls, command: list[str], env: dict[str, str] | None = None) -> StdioSession:
        """A session with any stdio MCP server: a peer, a floor."""
        session = cls.__new__(cls)
        session._spawn(command, env)
        return session

    def _spawn(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
        self._id = 0

    def initialize(self) -> list[dict[str, Any]]:
        """`initialize`, then `tools/list`; returns the tool catalogue."""
        self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "1"},
            },
        )
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools: list[dict[str, Any]] = self.request("tools/list", {})["result"]["tools"]
        return tools

    def call(self, tool: str, arguments: dict[str, Any]) -> str:
        answer = self.request("tools/call", {"name": tool, "arguments": arguments})
        result = answer["result"]
        text: str = result["content"][0]["text"]
        if result.get("isError"):
            raise RuntimeError(f"{tool} failed: {text}")
        return text

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        self._send({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        stdout: IO[bytes] = self.process.stdout  # type: ignore[assignment]
        while True:
            message: dict[str, Any] = json.loads(stdout.readline())
            if message.get("id") == self._id:
                return message

    def _send(self, message: dict[str, Any]) -> None:
        stdin: IO[bytes] = self.process.stdin  # type: ignore[assignment]
        stdin.write(json.dumps(message).encode() + b"\n")
        stdin.flush()

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used so far: less sensitive than wall
        time to other work on a busy machine."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
