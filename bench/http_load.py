"""Concurrent MCP clients over streamable HTTP against our servers and the Go peer.

Each scenario runs `--clients` MCP sessions at once (default 20) for `--seconds` (default 30)
against one server on loopback, every session calling one tool back to back: calls per second,
latency p50/p99, errors (an HTTP error, a JSON-RPC error or a tool result marked `isError`),
and the server's RSS before and after. The Kubernetes calls run against our Kubernetes server
and against containers/kubernetes-mcp-server (installed from npm at a pinned version, see
`bench/peers.py`) on the same local control plane, with the same objects. The clients speak
plain JSON-RPC over HTTP (`initialize`, `notifications/initialized`, then `tools/call`), so
the servers are measured through their HTTP interface only, whatever they are built on.

Bounded: each call times out after `--call-timeout`, no new call starts after `--seconds`,
and every process started here is stopped at the end. Run: `python -m bench.run load`, or
`python -m bench.http_load --help` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pymongo

from bench import peers
from devstack import ferretdb, postgres
from devstack import kube as kube_stack
from devstack.base import free_port
from devstack.prometheus import start_prometheus
from devstack.services import start_mcp_server, start_service

PROTOCOL = "2025-06-18"
NAMESPACE = "bench"
PODS = 20
NAMESPACES = 10
LIMITS = {"calls_per_minute": 100_000, "max_items": 100, "max_bytes": 100_000}
KUBE_POLICY = {
    "server": "kubernetes",
    "roles": {
        "reader": {
            "tools": ["list_resources", "get_resource"],
            "scope": {
                "namespaces": {"allow": ["*"]},
                "kinds": {"allow": ["*"], "deny": ["Secret"]},
                "verbs": ["get", "list"],
                "cluster_scoped": True,
            },
            "limits": LIMITS,
        }
    },
}
PROMETHEUS_POLICY = {
    "server": "prometheus",
    "roles": {"reader": {"tools": ["query"], "limits": LIMITS}},
}
POSTGRES_POLICY = {
    "server": "postgres",
    "roles": {"reader": {"tools": ["query"], "limits": LIMITS}},
}
MONGODB_POLICY = {
    "server": "mongodb",
    "roles": {"reader": {"tools": ["find"], "limits": LIMITS}},
}


@dataclass(frozen=True)
class Call:
    """One tool call, named for the figure it gives."""

    label: str
    tool: str
    arguments: dict[str, Any]


# The same three reads on each Kubernetes server, in its own tool names.
OUR_KUBE_CALLS = [
    Call("namespaces list", "list_resources", {"kind": "namespaces"}),
    Call("pods list in a namespace", "list_resources", {"kind": "pods", "namespace": NAMESPACE}),
    Call("get a pod", "get_resource", {"kind": "pods", "namespace": NAMESPACE, "name": "pod-00"}),
]
PEER_KUBE_CALLS = [
    Call("namespaces list", "namespaces_list", {}),
    Call("pods list in a namespace", "pods_list_in_namespace", {"namespace": NAMESPACE}),
    Call("get a pod", "pods_get", {"namespace": NAMESPACE, "name": "pod-00"}),
]
PROMETHEUS_CALLS = [Call("instant query `up`", "query", {"query": "up"})]
POSTGRES_CALLS = [Call("one-row query", "query", {"sql": "SELECT 1"})]
MONGODB_CALLS = [
    Call("one-document find", "find", {"database": "bench", "collection": "items", "limit": 1})
]


@dataclass
class Target:
    """A server under load: its MCP endpoint, its process, the token clients send."""

    name: str
    url: str
    pid: int
    tokens: list[str | None]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 3:
            self.first_errors.append(message[:300])


class Session:
    """One MCP client over streamable HTTP: its own connection and, if the server gives one,
    its session id."""

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        headers = {"Accept": "application/json, text/event-stream"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = url
        self.http = httpx.AsyncClient(
            headers=headers, timeout=timeout, limits=httpx.Limits(max_connections=1)
        )
        self._id = 0

    async def initialize(self) -> None:
        await self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "bench-load", "version": "1"},
            },
        )
        self.http.headers["Mcp-Protocol-Version"] = PROTOCOL
        await self.http.post(
            self.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
        )

    async def call(self, call: Call) -> None:
        answer = await self.request("tools/call", {"name": call.tool, "arguments": call.arguments})
        result = answer.get("result")
        if result is None:
            raise RuntimeError(f"JSON-RPC error: {answer.get('error')}")
        if result.get("isError"):
            raise RuntimeError(f"tool error: {result['content'][0].get('text', '')}")

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
        response = await self.http.post(self.url, json=body)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        if session := response.headers.get("mcp-session-id"):
            self.http.headers["Mcp-Session-Id"] = session
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return _from_events(response.text, self._id)
        answer: dict[str, Any] = response.json()
        return answer

    async def close(self) -> None:
        if "Mcp-Session-Id" in self.http.headers:
            with contextlib.suppress(httpx.HTTPError):
                await self.http.delete(self.url)
        await self.http.aclose()


def _from_events(stream: str, request_id: int) -> dict[str, Any]:
    """The JSON-RPC answer to `request_id` among a server-sent event stream's messages."""
    for line in stream.splitlines():
        if line.startswith("data:"):
            message: dict[str, Any] = json.loads(line[5:])
            if message.get("id") == request_id:
                return message
    raise RuntimeError(f"no answer to request {request_id} in the event stream")


async def _load(
    target: Target, call: Call, clients: int, seconds: float, call_timeout: float
) -> Tally:
    tally = Tally()
    sessions = [
        Session(target.url, target.tokens[i % len(target.tokens)], call_timeout)
        for i in range(clients)
    ]
    try:
        await asyncio.gather(*(session.initialize() for session in sessions))
        for session in sessions:  # one untimed call each: caches and connections warm
            await session.call(call)
        deadline = time.perf_counter() + seconds

        async def client(session: Session) -> None:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    await session.call(call)
                except (httpx.HTTPError, RuntimeError, ValueError) as error:
                    tally.error(f"{type(error).__name__}: {error}")
                    continue
                tally.latencies.append(time.perf_counter() - began)

        await asyncio.gather(*(client(session) for session in sessions))
    finally:
        await asyncio.gather(*(session.close() for session in sessions))
    return tally


def _proc_status(pid: int, key: str) -> float:
    """A /proc/PID/status figure in MB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(target: Target, call: Call, options: argparse.Namespace) -> dict[str, Any]:
    rss_start = _proc_status(target.pid, "VmRSS")
    load_before = os.getloadavg()
    server_cpu = _cpu_seconds(target.pid)
    client_cpu = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    tally = asyncio.run(_load(target, call, options.clients, options.seconds, options.call_timeout))
    wall = time.perf_counter() - began
    client_used = resource.getrusage(resource.RUSAGE_SELF)
    latencies = sorted(tally.latencies)
    server_used = _cpu_seconds(target.pid) - server_cpu
    return {
        "server": target.name,
        "call": call.label,
        "tool": call.tool,
        "calls": len(latencies),
        "calls_per_s": round(len(latencies) / options.seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None,
        "errors": tally.errors,
        "first_errors": tally.first_errors,
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(_proc_status(target.pid, "VmRSS"), 1),
        "peak_rss_mb": round(_proc_status(target.pid, "VmHWM"), 1),
        "server_cpu_per_s": round(server_used / wall, 2),
        # Steadier than calls/s on a busy machine, where a process gets a varying CPU share.
        "calls_per_server_cpu_s": round(len(latencies) / server_used) if server_used else None,
        "client_cpu_per_s": round(
            (
                client_used.ru_utime
                + client_used.ru_stime
                - client_cpu.ru_utime
                - client_cpu.ru_stime
            )
            / wall,
            2,
        ),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def _populate(kube: Any) -> None:
    for index in range(NAMESPACES):
        kube.request("POST", "/api/v1/namespaces", {"metadata": {"name": f"team-{index:02d}"}})
    kube.request("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    for index in range(PODS):
        kube.request(
            "POST",
            f"/api/v1/namespaces/{NAMESPACE}/pods",
            {
                "metadata": {"name": f"pod-{index:02d}", "labels": {"app": "bench"}},
                "spec": {"containers": [{"name": "app", "image": "registry.local/app:1"}]},
            },
        )


def _tokens(clients: int) -> list[dict[str, Any]]:
    return [
        {
            "token": f"load-token-{index:02d}-0123456789",
            "subject": f"load-{index:02d}",
            "roles": ["reader"],
        }
        for index in range(clients)
    ]


@contextlib.contextmanager
def _ours(
    workdir: Path, server: str, policy: dict[str, Any], backend: list[str], clients: int
) -> Iterator[Target]:
    """`autodevops serve <server> --transport http`, one token (and subject) per client."""
    tokens = _tokens(clients)
    mcp = start_mcp_server(workdir, server, policy, tokens, *backend)
    try:
        yield Target(f"ours: {server}", mcp.url, mcp.process.pid, [t["token"] for t in tokens])
    finally:
        mcp.stop()


@contextlib.contextmanager
def _peer(workdir: Path, kubeconfig: Path, qps: int | None) -> Iterator[Target]:
    """As shipped (`qps` None: client-go's own client-side limit of 5 requests per second,
    burst 10), or with that limit raised through the peer's KUBE_CLIENT_QPS/_BURST."""
    binary = peers.install_kubernetes_mcp_server()
    port = free_port()
    command = [
        str(binary),
        "--port", str(port),
        "--bind-address", "127.0.0.1",
        "--kubeconfig", str(kubeconfig),
        "--read-only",
        "--stateless",
        "--disable-multi-cluster",
        "--toolsets", "core",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    env = {"KUBE_CLIENT_QPS": str(qps), "KUBE_CLIENT_BURST": str(qps * 2)} if qps else {}
    log = workdir / f"kubernetes-mcp-server-{qps or 'shipped'}.log"
    process: subprocess.Popen[bytes] = start_service(command, log, f"{url}/healthz", env)
    try:
        name = f"peer: kubernetes-mcp-server {peers.KUBERNETES_MCP_SERVER_VERSION}"
        yield Target(
            name + (f", client QPS {qps}" if qps else ", as shipped"),
            f"{url}/mcp",
            process.pid,
            [None],
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


TARGETS = ("kubernetes", "peer", "prometheus", "postgres", "mongodb")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--call-timeout", type=float, default=10.0)
    parser.add_argument(
        "--peer-qps",
        type=int,
        default=10_000,
        help="the peer's client-side limit for its second run (its first: as shipped)",
    )
    parser.add_argument(
        "--only", choices=TARGETS, action="append",
        help="run only these targets (repeatable; default all)",
    )  # fmt: skip
    options = parser.parse_args(argv)
    chosen = options.only or TARGETS
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="autodevops-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        # Every Kubernetes server runs at once on the same objects, and each call is measured
        # on each of them in turn, so a change in the machine's load falls on all alike.
        kube_targets: list[tuple[Target, list[Call]]] = []
        if {"kubernetes", "peer"} & set(chosen):
            kube = kube_stack.start(workdir / "kube")
            stack.callback(kube.stop)
            _populate(kube)
            if "kubernetes" in chosen:
                backend = ["--kubeconfig", str(kube.kubeconfig)]
                ours = stack.enter_context(
                    _ours(workdir, "kubernetes", KUBE_POLICY, backend, options.clients)
                )
                kube_targets.append((ours, OUR_KUBE_CALLS))
            if "peer" in chosen:
                for qps in (None, options.peer_qps):
                    peer = stack.enter_context(_peer(workdir, kube.kubeconfig, qps))
                    kube_targets.append((peer, PEER_KUBE_CALLS))
        for index in range(len(OUR_KUBE_CALLS)):
            for target, calls in kube_targets:
                results.append(measure(target, calls[index], options))
        if "prometheus" in chosen:
            prometheus = start_prometheus(workdir / "prometheus")
            stack.callback(prometheus.stop)
            backend = ["--prometheus-url", prometheus.url]
            target = stack.enter_context(
                _ours(workdir, "prometheus", PROMETHEUS_POLICY, backend, options.clients)
            )
            for call in PROMETHEUS_CALLS:
                results.append(measure(target, call, options))
        if "postgres" in chosen:
            workdir.chmod(0o755)  # PostgreSQL runs as its own user when we are root
            database = postgres.start(workdir / "postgres")
            stack.callback(database.stop)
            (workdir / "dsn").write_text(database.url)
            backend = ["--dsn-file", str(workdir / "dsn")]
            target = stack.enter_context(
                _ours(workdir, "postgres", POSTGRES_POLICY, backend, options.clients)
            )
            for call in POSTGRES_CALLS:
                results.append(measure(target, call, options))
        if "mongodb" in chosen:
            mongo = ferretdb.start(workdir / "ferretdb")
            stack.callback(mongo.stop)
            direct: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo.url)
            with direct:
                items: list[dict[str, Any]] = [{"i": i, "status": "ok"} for i in range(100)]
                direct.bench.items.insert_many(items)
            (workdir / "mongodb-uri").write_text(mongo.url)
            backend = ["--uri-file", str(workdir / "mongodb-uri")]
            target = stack.enter_context(
                _ours(workdir, "mongodb", MONGODB_POLICY, backend, options.clients)
            )
            for call in MONGODB_CALLS:
                results.append(measure(target, call, options))
    return {"clients": options.clients, "seconds": options.seconds, "runs": results}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
