"""Benchmarks of the Prometheus MCP server against a real local Prometheus.

Measures, over stdio with a plain JSON-RPC client (so client overhead is not counted):
cold start to a listed tool catalogue, the catalogue's size, the added latency of an
instant `up` query through MCP versus straight to Prometheus, and the server's peak RSS.
Run: `make bench` (or `.venv/bin/python bench/run.py --calls 300`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx

from autodevops.stack.prometheus import start_prometheus

PROTOCOL = "2025-06-18"
BENCH_POLICY = """
server: prometheus
stdio_role: viewer
roles:
  viewer:
    tools: ["*"]
    limits: {calls_per_minute: 100000}
"""


class StdioSession:
    """Newline-delimited JSON-RPC over a server's stdin/stdout, as MCP stdio specifies."""

    def __init__(self, prometheus_url: str, policy: Path) -> None:
        command = [
            sys.executable,
            "-m",
            "autodevops.servers.cli",
            "serve",
            "prometheus",
            "--prometheus-url",
            prometheus_url,
            "--policy",
            str(policy),
            "--audit-log",
            os.devnull,
        ]
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self._id = 0

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        self._send({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        stdout: IO[bytes] = self.process.stdout  # type: ignore[assignment]
        while True:
            message: dict[str, Any] = json.loads(stdout.readline())
            if message.get("id") == self._id:
                return message

    def notify(self, method: str) -> None:
        self._send({"jsonrpc": "2.0", "method": method})

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


def open_session(prometheus_url: str, policy: Path) -> tuple[StdioSession, float, int]:
    session = StdioSession(prometheus_url, policy)
    session.request(
        "initialize",
        {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    )
    session.notify("notifications/initialized")
    listed = session.request("tools/list", {})
    cold = time.perf_counter() - session.started
    catalogue = len(json.dumps(listed["result"]["tools"], separators=(",", ":")))
    return session, cold, catalogue


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--starts", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-") as workdir:
        policy = Path(workdir) / "policy.yaml"
        policy.write_text(BENCH_POLICY)
        prometheus = start_prometheus(Path(workdir) / "prometheus")
        try:
            report = measure(prometheus.url, policy, options.calls, options.starts)
        finally:
            prometheus.stop()
    print(json.dumps(report, indent=2))
    return 0


def measure(prometheus_url: str, policy: Path, calls: int, starts: int) -> dict[str, Any]:
    colds = []
    for _ in range(starts):
        session, cold, catalogue = open_session(prometheus_url, policy)
        colds.append(cold)
        session.close()

    direct = []
    with httpx.Client(base_url=prometheus_url) as http:
        for _ in range(calls):
            began = time.perf_counter()
            http.get("/api/v1/query", params={"query": "up"}).raise_for_status()
            direct.append(time.perf_counter() - began)

    session, _, _ = open_session(prometheus_url, policy)
    through = []
    try:
        for _ in range(calls):
            began = time.perf_counter()
            answer = session.request("tools/call", {"name": "query", "arguments": {"query": "up"}})
            through.append(time.perf_counter() - began)
            assert not answer["result"].get("isError"), answer
        rss = session.peak_rss_mb()
    finally:
        session.close()

    direct_ms = statistics.median(direct) * 1000
    mcp_ms = statistics.median(through) * 1000
    return {
        "calls": calls,
        "direct_query_median_ms": round(direct_ms, 3),
        "mcp_stdio_query_median_ms": round(mcp_ms, 3),
        "added_ms": round(mcp_ms - direct_ms, 3),
        "ratio": round(mcp_ms / direct_ms, 2),
        "cold_start_to_tools_list_s": round(statistics.median(colds), 3),
        "peak_rss_mb": round(rss, 1),
        "catalogue_chars": catalogue,
    }


if __name__ == "__main__":
    sys.exit(main())
