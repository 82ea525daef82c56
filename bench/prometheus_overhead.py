"""The Prometheus MCP server against a real local Prometheus.

Over stdio with a plain JSON-RPC client: cold start to a listed tool catalogue, the
catalogue's size, the added latency of an instant `up` query through MCP versus straight to
Prometheus, and the server's peak RSS. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stdio_session import StdioSession
from devstack.prometheus import start_prometheus

BENCH_POLICY = """
server: prometheus
stdio_role: viewer
roles:
  viewer:
    tools: ["*"]
    limits: {calls_per_minute: 100000}
"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--starts", type=int, default=5)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-") as workdir:
        policy = Path(workdir) / "policy.yaml"
        policy.write_text(BENCH_POLICY)
        prometheus = start_prometheus(Path(workdir) / "prometheus")
        try:
            return measure(prometheus.url, policy, options.calls, options.starts)
        finally:
            prometheus.stop()


def _session(prometheus_url: str, policy: Path) -> StdioSession:
    return StdioSession("prometheus", "--prometheus-url", prometheus_url, "--policy", str(policy))


def measure(prometheus_url: str, policy: Path, calls: int, starts: int) -> dict[str, Any]:
    colds = []
    catalogue = 0
    for _ in range(starts):
        session = _session(prometheus_url, policy)
        tools = session.initialize()
        colds.append(time.perf_counter() - session.started)
        catalogue = len(json.dumps(tools, separators=(",", ":")))
        session.close()

    direct = []
    with httpx.Client(base_url=prometheus_url) as http:
        for _ in range(calls):
            began = time.perf_counter()
            http.get("/api/v1/query", params={"query": "up"}).raise_for_status()
            direct.append(time.perf_counter() - began)

    session = _session(prometheus_url, policy)
    session.initialize()
    through = []
    try:
        for _ in range(calls):
            began = time.perf_counter()
            session.call("query", {"query": "up"})
            through.append(time.perf_counter() - began)
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
    print(json.dumps(main(), indent=2))
