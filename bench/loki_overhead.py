"""The Loki MCP server against the fake Loki of the tests (or a real one with --loki-url).

Over stdio with a plain JSON-RPC client: cold start to a listed tool catalogue, the
catalogue's size, the added latency of a log query (the newest 100 lines of one selector)
and of a metric query through MCP versus the same request sent straight to Loki, for an
unscoped role and for a role whose queries are rewritten to a namespace scope, and the
server's peak RSS. Run: `.venv/bin/python -m bench.run loki`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from autodevops.servers.loki.scope import LokiScope, enforce_scope
from bench.stdio_session import StdioSession
from tests.fakes.fake_loki import DEFAULT_TENANT, FakeLoki, fixture_streams

BENCH_POLICY = """
server: loki
stdio_role: {role}
roles:
  viewer:
    tools: ["*"]
    limits: {{calls_per_minute: 100000, max_bytes: 1000000}}
  team:
    tools: ["*"]
    scope: {{labels: {{namespace: [team-a, team-b-*]}}}}
    limits: {{calls_per_minute: 100000, max_bytes: 1000000}}
"""
SCOPES = {"viewer": LokiScope(), "team": LokiScope(labels={"namespace": ["team-a", "team-b-*"]})}
LOGS = '{namespace="team-a", app="api"} |= "level"'
METRIC = 'sum by (pod) (count_over_time({namespace="team-a"} |= "error" [10m]))'


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--loki-url", help="a real Loki holding the tests' fixture streams")
    options = parser.parse_args(argv)
    if options.loki_url:
        return measure(options.loki_url, options.calls, options.starts)
    with FakeLoki(fixture_streams()) as fake:
        return measure(fake.url, options.calls, options.starts)


def _session(loki_url: str, workdir: Path, role: str) -> StdioSession:
    policy = workdir / f"policy-{role}.yaml"
    policy.write_text(BENCH_POLICY.format(role=role))
    return StdioSession(
        "loki", "--loki-url", loki_url, "--loki-tenant", DEFAULT_TENANT, "--policy", str(policy)
    )


def _median_ms(calls: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def measure(loki_url: str, calls: int, starts: int) -> dict[str, Any]:
    result: dict[str, Any] = {"calls": calls}
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-") as name:
        workdir = Path(name)
        colds = []
        for _ in range(starts):
            session = _session(loki_url, workdir, "viewer")
            tools = session.initialize()
            colds.append(time.perf_counter() - session.started)
            result["catalogue_chars"] = len(json.dumps(tools, separators=(",", ":")))
            session.close()
        result["cold_start_to_tools_list_s"] = round(statistics.median(colds), 3)

        for role in ("viewer", "team"):
            direct = _direct(loki_url, calls, SCOPES[role])
            result.update({f"{role}_direct_{k}_median_ms": round(v, 3) for k, v in direct.items()})
            result.update(_through_mcp(loki_url, workdir, role, calls, direct))
    return result


def _direct(loki_url: str, calls: int, scope: LokiScope) -> dict[str, float]:
    """The same requests straight to Loki, with the query text the server sends for the role."""
    end = time.time_ns()
    start = str(end - 3600 * 10**9)
    logs = {"query": enforce_scope(LOGS, scope).text, "limit": "100", "start": start}
    metric = {"query": enforce_scope(METRIC, scope).text, "start": start, "step": "30"}
    path = "/loki/api/v1/query_range"
    headers = {"X-Scope-OrgID": DEFAULT_TENANT}
    with httpx.Client(base_url=loki_url, headers=headers) as http:
        return {
            "logs": _median_ms(calls, lambda: http.get(path, params=logs).raise_for_status()),
            "metric": _median_ms(calls, lambda: http.get(path, params=metric).raise_for_status()),
        }


def _through_mcp(
    loki_url: str, workdir: Path, role: str, calls: int, direct: dict[str, float]
) -> dict[str, float]:
    session = _session(loki_url, workdir, role)
    session.initialize()
    try:
        logs = _median_ms(calls, lambda: session.call("query_logs", {"query": LOGS}))
        metric = _median_ms(
            calls, lambda: session.call("query_metrics", {"query": METRIC, "step": "30s"})
        )
        rss = session.peak_rss_mb()
    finally:
        session.close()
    return {
        f"{role}_logs_median_ms": round(logs, 3),
        f"{role}_logs_added_ms": round(logs - direct["logs"], 3),
        f"{role}_metric_median_ms": round(metric, 3),
        f"{role}_metric_added_ms": round(metric - direct["metric"], 3),
        f"{role}_peak_rss_mb": round(rss, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
