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


class StdioSession:
    """Newline-delimited JSON-RPC over a server's stdin/stdout, as MCP stdio specifies."""

    def __init__(self, server: str, *options: str) -> None:
        command = [
            sys.executable,
            "-m",
            "autodevops.clients.cli",
            "serve",
            server,
            "--audit-log",
            os.devnull,
            *options,
        ]
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
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

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
