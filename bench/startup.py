"""Start and memory of the servers beside the floor and the peers, measured in one run on the
same Prometheus and control plane.

The rows: a one-tool server on the official `mcp` SDK (as its documentation writes one, and on
its low-level server: the least any server on the SDK pays), one on fastmcp, our Prometheus
and Kubernetes servers with their shipped policies, pab1it0's prometheus-mcp-server and
containers/kubernetes-mcp-server (read-only), the peers installed from their registries at
pinned versions (`bench/peers.py`).

- cold start: spawn to the answer of `tools/list` after `initialize`, wall and CPU time. Each
  round starts every server once, in an order that rotates, so a machine busy with other work
  slows all of them alike; a ratio is the median of each round's ratio to the floor;
- per call: the median of one representative read (echo; an instant `up` query; the list of
  namespaces) over a plain JSON-RPC client and over the SDK's `ClientSession`, beside the same
  request sent straight to the backend;
- peak RSS (`VmHWM`) of the server after those calls; catalogue characters per tool.

Run: `.venv/bin/python -m bench.run startup` (part of `make bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from mcp import ClientSession, StdioServerParameters, stdio_client

from bench.peers import (
    KUBERNETES_MCP_SERVER_VERSION,
    PROMETHEUS_MCP_SERVER_VERSION,
    install_kubernetes_mcp_server,
    install_prometheus_mcp_server,
)
from bench.stdio_session import StdioSession, serve_command
from devstack import kube as kube_stack
from devstack.prometheus import start_prometheus

HERE = Path(__file__).resolve().parent
POLICIES = HERE.parent / "policies"
FLOOR = "one-tool server, `mcp` SDK"
LOWLEVEL = "one-tool server, `mcp` SDK low-level"
ECHO = ("echo", {"text": "x"})


@dataclass(frozen=True)
class Server:
    label: str
    command: list[str]
    tool: str
    arguments: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    # The same request straight to the backend, for the overhead; none for a floor.
    direct: Callable[[], None] | None = None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="cold starts of each server")
    parser.add_argument("--calls", type=int, default=300)
    options = parser.parse_args(argv)
    kubernetes_mcp_server = install_kubernetes_mcp_server()
    prometheus_mcp_server = install_prometheus_mcp_server()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-") as tmp:
        workdir = Path(tmp)
        prometheus = start_prometheus(workdir / "prometheus")
        kube = kube_stack.start(workdir / "kube")
        try:
            with (
                httpx.Client(base_url=prometheus.url) as prom_http,
                httpx.Client(base_url=kube.url, verify=kube.ssl_context()) as kube_http,
            ):
                servers = _servers(
                    workdir,
                    prometheus.url,
                    kube.kubeconfig,
                    prometheus_mcp_server,
                    kubernetes_mcp_server,
                    lambda: (
                        prom_http.get("/api/v1/query", params={"query": "up"})
                        .raise_for_status()
                        .close()
                    ),
                    lambda: kube_http.get("/api/v1/namespaces").raise_for_status().close(),
                )
                cold = _cold_starts(servers, options.rounds)
                rows = {s.label: {**cold[s.label], **_calls(s, options.calls)} for s in servers}
        finally:
            kube.stop()
            prometheus.stop()
    return {
        "load_average_before": [round(x, 1) for x in load_before],
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "rounds": options.rounds,
        "calls": options.calls,
        "servers": rows,
        "table": _table(rows),
    }


def _servers(
    workdir: Path,
    prometheus_url: str,
    kubeconfig: Path,
    prometheus_mcp_server: Path,
    kubernetes_mcp_server: Path,
    prometheus_direct: Callable[[], None],
    kube_direct: Callable[[], None],
) -> list[Server]:
    prometheus_policy = _policy(workdir, "prometheus")
    kubernetes_policy = _policy(workdir, "kubernetes")
    return [
        Server(FLOOR, [sys.executable, str(HERE / "one_tool_sdk.py")], *ECHO),
        Server(LOWLEVEL, [sys.executable, str(HERE / "one_tool_lowlevel.py")], *ECHO),
        Server(
            "one-tool server, fastmcp", [sys.executable, str(HERE / "one_tool_fastmcp.py")], *ECHO
        ),
        Server(
            "our Prometheus server",
            serve_command(
                "prometheus",
                "--prometheus-url",
                prometheus_url,
                "--policy",
                str(prometheus_policy),
            ),
            "query",
            {"query": "up"},
            direct=prometheus_direct,
        ),
        Server(
            f"pab1it0's prometheus-mcp-server {PROMETHEUS_MCP_SERVER_VERSION}",
            [str(prometheus_mcp_server)],
            "execute_query",
            {"query": "up"},
            env={"PROMETHEUS_URL": prometheus_url},
            direct=prometheus_direct,
        ),
        Server(
            "our Kubernetes server",
            serve_command(
                "kubernetes", "--kubeconfig", str(kubeconfig), "--policy", str(kubernetes_policy)
            ),
            "list_resources",
            {"kind": "namespaces"},
            direct=kube_direct,
        ),
        Server(
            f"kubernetes-mcp-server {KUBERNETES_MCP_SERVER_VERSION} (Go, --read-only)",
            [str(kubernetes_mcp_server), "--kubeconfig", str(kubeconfig), "--read-only"],
            "namespaces_list",
            {},
            direct=kube_direct,
        ),
    ]


def _policy(workdir: Path, server: str) -> Path:
    """The shipped policy, its stdio role's rate limit raised for the calls."""
    policy = yaml.safe_load((POLICIES / f"{server}.yaml").read_text())
    policy["roles"][policy["stdio_role"]].setdefault("limits", {})["calls_per_minute"] = 100_000
    path = workdir / f"{server}-policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path


def _cold_starts(servers: list[Server], rounds: int) -> dict[str, dict[str, Any]]:
    wall: dict[str, list[float]] = {s.label: [] for s in servers}
    cpu: dict[str, list[float]] = {s.label: [] for s in servers}
    tools: dict[str, list[dict[str, Any]]] = {}
    for index in range(rounds):
        shift = index % len(servers)
        for server in servers[shift:] + servers[:shift]:
            session = StdioSession.of(server.command, server.env)
            try:
                tools[server.label] = session.initialize()
                wall[server.label].append(time.perf_counter() - session.started)
                cpu[server.label].append(session.cpu_seconds())
            finally:
                session.close()
    result = {}
    for server in servers:
        listed = tools[server.label]
        result[server.label] = {
            "cold_start_s": round(statistics.median(wall[server.label]), 3),
            "cold_start_cpu_s": round(statistics.median(cpu[server.label]), 3),
            "ratio_to_sdk": _ratio(wall[server.label], wall[FLOOR]),
            "cpu_ratio_to_sdk": _ratio(cpu[server.label], cpu[FLOOR]),
            "ratio_to_lowlevel": _ratio(wall[server.label], wall[LOWLEVEL]),
            "cpu_ratio_to_lowlevel": _ratio(cpu[server.label], cpu[LOWLEVEL]),
            "tools": len(listed),
            "catalogue_chars_per_tool": round(
                len(json.dumps(listed, separators=(",", ":"))) / len(listed)
            ),
        }
    return result


def _ratio(times: list[float], floor: list[float]) -> float:
    return round(statistics.median(t / f for t, f in zip(times, floor, strict=True)), 2)


def _calls(server: Server, calls: int) -> dict[str, Any]:
    session = StdioSession.of(server.command, server.env)
    try:
        session.initialize()
        raw = [_timed(lambda: session.call(server.tool, server.arguments)) for _ in range(calls)]
        peak = session.peak_rss_mb()
    finally:
        session.close()
    sdk = asyncio.run(_sdk_calls(server, calls))
    direct = [_timed(server.direct) for _ in range(calls)] if server.direct else [0.0]
    direct_ms = statistics.median(direct) * 1000
    raw_ms = statistics.median(raw) * 1000
    sdk_ms = statistics.median(sdk) * 1000
    return {
        "peak_rss_mb": round(peak, 1),
        "direct_ms": round(direct_ms, 3),
        "raw_call_ms": round(raw_ms, 3),
        "sdk_call_ms": round(sdk_ms, 3),
        "raw_overhead_ms": round(raw_ms - direct_ms, 3),
        "sdk_overhead_ms": round(sdk_ms - direct_ms, 3),
    }


def _timed(call: Callable[[], Any]) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


async def _sdk_calls(server: Server, calls: int) -> list[float]:
    """The same calls through the SDK's client session over stdio."""
    parameters = StdioServerParameters(
        command=server.command[0], args=server.command[1:], env=server.env or None
    )
    times = []
    with Path(os.devnull).open("w") as errors:  # noqa: ASYNC230 (opening /dev/null)
        async with (
            stdio_client(parameters, errlog=errors) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            for _ in range(calls):
                began = time.perf_counter()
                result = await session.call_tool(server.tool, server.arguments)
                times.append(time.perf_counter() - began)
                if result.is_error:
                    raise RuntimeError(f"{server.label}: {server.tool} failed: {result.content}")
    return times


def _table(rows: dict[str, dict[str, Any]]) -> str:
    by = "\u00d7"  # the multiplication sign of "1.20x"
    lines = [
        f"| server | cold start (CPU), {by} SDK one-tool | {by} SDK low-level | peak RSS "
        "after the calls | per call: raw client / SDK client (direct) | catalogue chars per tool |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, row in rows.items():
        lines.append(
            f"| {label} | {row['cold_start_s']:.2f} s ({row['cold_start_cpu_s']:.2f} s), "
            f"{row['ratio_to_sdk']:.2f}{by} ({row['cpu_ratio_to_sdk']:.2f}{by}) | "
            f"{row['ratio_to_lowlevel']:.2f}{by} ({row['cpu_ratio_to_lowlevel']:.2f}{by}) | "
            f"{row['peak_rss_mb']:.1f} MB | "
            f"{row['raw_call_ms']:.2f} / {row['sdk_call_ms']:.2f} ms "
            f"({row['direct_ms']:.2f} ms) | {row['catalogue_chars_per_tool']} "
            f"({row['tools']} tools) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    report = main()
    print(json.dumps({k: v for k, v in report.items() if k != "table"}, indent=2))
    print(report["table"])
