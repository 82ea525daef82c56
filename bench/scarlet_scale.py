"""Scarlet on a cluster of realistic size: 50 namespaces, 200 Deployments, 1,000 pods.

A private control plane from the local stack (kwok runs the pods on its fake node), the
Kubernetes MCP server over HTTP with the shipped policy and Scarlet's roles in it (as the
chart binds them), a private PostgreSQL, and Scarlet itself (`autodevops scarlet --config`),
without a model. Each namespace holds four
Deployments of five replicas; in 20 of them one Deployment asks for a node pool that does not
exist, so its five pods stay Pending (the scheduler's own FailedScheduling events). Measured:
the set-up (objects created, then every pod Running or Pending as the controllers leave it);
namespace alerts (labels `alertname` and `namespace` only) sent one at a time, from the
alert's run to its report, and the tool calls each run made; then 20 alerts at once. Run:
`.venv/bin/python -m bench.run scarlet_scale`.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

from devstack import kube as kube_stack
from devstack import postgres as postgres_stack
from devstack.base import free_port
from devstack.services import audit_lines, cli, start_mcp_server, start_service

NAMESPACES = 50
DEPLOYMENTS = ("web", "api", "worker", "cache")
REPLICAS = 5
BROKEN = 20  # namespaces whose `api` Deployment cannot be scheduled
FINAL = {"completed", "partial", "waiting_approval", "failed", "closed"}
REPO = Path(__file__).resolve().parent.parent
ROLES = ["agent", "operator"]  # Scarlet's roles on the Kubernetes server, as the chart binds them


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespaces", type=int, default=NAMESPACES)
    parser.add_argument("--broken", type=int, default=BROKEN)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-") as workdir:
        Path(workdir).chmod(0o755)  # the postgres user reaches its data directory through it
        stack = Path(workdir) / "stack"
        started: list[Any] = []
        processes: list[subprocess.Popen[bytes]] = []
        try:
            kube = kube_stack.start(stack)
            started.append(kube)
            postgres = postgres_stack.start(stack)
            started.append(postgres)
            setup = populate(kube, options.namespaces, options.broken)
            scarlet, server = start_scarlet(Path(workdir), kube, postgres.url, processes)
            sequential = [alert_to_report(scarlet, ns, f"one-{ns}") for ns in broken(options)]
            sequential += [alert_to_report(scarlet, ns, f"one-{ns}") for ns in healthy(options)]
            burst = burst_of_alerts(scarlet, broken(options))
            return {
                "cluster": {
                    "namespaces": options.namespaces,
                    "deployments": options.namespaces * len(DEPLOYMENTS),
                    "pods": options.namespaces * len(DEPLOYMENTS) * REPLICAS,
                },
                "setup_seconds": setup,
                "one_alert_at_a_time": _summary(sequential),
                "twenty_at_once": burst,
                "mcp_server_calls": _calls(server),
            }
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=15)
            for handle in reversed(started):
                handle.stop()


def namespace_names(count: int) -> list[str]:
    return [f"team-{i:02d}" for i in range(count)]


def broken(options: argparse.Namespace) -> list[str]:
    return namespace_names(options.namespaces)[: options.broken]


def healthy(options: argparse.Namespace) -> list[str]:
    return namespace_names(options.namespaces)[options.broken :][:5]


def deployment(namespace: str, name: str, pool: str | None) -> dict[str, Any]:
    selector = {"type": "kwok"} | ({"pool": pool} if pool else {})
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": selector,
                    "containers": [
                        {
                            "name": "app",
                            "image": f"registry.example/{name}:1.4.2",
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                        }
                    ],
                },
            },
        },
    }


def populate(kube: Any, count: int, broken_count: int) -> dict[str, float]:
    """The namespaces and Deployments through the API (16 at a time), then wait until every
    pod is Running, or Pending for the broken ones."""
    names = namespace_names(count)
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda ns: kube.request(
                    "POST",
                    "/api/v1/namespaces",
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                ),
                names,
            )
        )
        bodies = [
            deployment(ns, name, "gpu" if i < broken_count and name == "api" else None)
            for i, ns in enumerate(names)
            for name in DEPLOYMENTS
        ]
        list(
            pool.map(
                lambda body: kube.request(
                    "POST",
                    f"/apis/apps/v1/namespaces/{body['metadata']['namespace']}/deployments",
                    body,
                ),
                bodies,
            )
        )
    created = time.monotonic() - started
    expected = count * len(DEPLOYMENTS) * REPLICAS
    pending = broken_count * REPLICAS
    while True:
        pods = _all_pods(kube)
        phases = [p.get("status", {}).get("phase") for p in pods]
        unscheduled = sum(
            1
            for p in pods
            if any(
                c.get("type") == "PodScheduled" and c.get("status") == "False"
                for c in p.get("status", {}).get("conditions") or []
            )
        )
        if (
            len(pods) == expected
            and phases.count("Running") == expected - pending
            and unscheduled == pending
        ):
            break
        if time.monotonic() - started > 900:
            raise RuntimeError(f"{len(pods)} pods, {phases.count('Running')} Running after 900 s")
        time.sleep(2)
    return {
        "objects_created": round(created, 1),
        "all_pods_settled": round(time.monotonic() - started, 1),
    }


def _all_pods(kube: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = kube.request("GET", f"/api/v1/pods?limit=500&continue={cursor}")
        items += page["items"]
        cursor = page["metadata"].get("continue") or ""
        if not cursor:
            return items


class Scarlet:
    def __init__(self, api: str, token: str) -> None:
        self.api = api
        self.headers = {"Authorization": f"Bearer {token}"}

    def alert(self, namespace: str, fingerprint: str) -> int:
        labels = {"alertname": "KubePodNotReady", "severity": "warning", "namespace": namespace}
        payload = {
            "version": "4",
            "status": "firing",
            "receiver": "scarlet",
            "alerts": [
                {
                    "status": "firing",
                    "fingerprint": fingerprint,
                    "labels": labels,
                    "annotations": {"summary": f"pods not ready in {namespace}"},
                    "startsAt": "2026-11-30T10:00:00Z",
                }
            ],
        }
        response = httpx.post(f"{self.api}/v1/alerts", json=payload, headers=self.headers)
        response.raise_for_status()
        return int(response.json()["runs"][0]["run"])

    def wait(self, run_id: int, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            detail: dict[str, Any] = httpx.get(
                f"{self.api}/v1/runs/{run_id}", headers=self.headers, timeout=10
            ).json()
            if detail["status"] in FINAL:
                return detail
            time.sleep(0.05)
        raise TimeoutError(f"run {run_id} not finished within {timeout:g} s")


def start_scarlet(
    workdir: Path, kube: Any, postgres_url: str, processes: list[subprocess.Popen[bytes]]
) -> tuple[Scarlet, Any]:
    policy = yaml.safe_load((REPO / "policies" / "kubernetes.yaml").read_text())
    kube_token = secrets.token_urlsafe(24)
    server = start_mcp_server(
        workdir,
        "kubernetes",
        policy,
        [{"token": kube_token, "subject": "scarlet", "roles": ROLES}],
        "--kubeconfig",
        str(kube.kubeconfig),
    )
    processes.append(server.process)
    (workdir / "kube-token").write_text(kube_token)
    database = f"scarlet_bench_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    (workdir / "dsn").write_text(psycopg.conninfo.make_conninfo(postgres_url, dbname=database))
    token = secrets.token_urlsafe(24)
    (workdir / "api-tokens.yaml").write_text(
        yaml.safe_dump(
            [{"token": token, "subject": "alertmanager", "roles": ["submitter", "viewer"]}]
        )
    )
    api, metrics, health = free_port(), free_port(), free_port()
    config = {
        "database_url_file": str(workdir / "dsn"),
        "servers": [
            {"name": "kubernetes", "url": server.url, "token_file": str(workdir / "kube-token")}
        ],
        "model": {"host": f"http://127.0.0.1:{free_port()}", "probe_seconds": 1},
        "api_tokens_file": str(workdir / "api-tokens.yaml"),
        "ports": {"api": api, "metrics": metrics, "health": health},
        "worker": {"poll_seconds": 0.1, "concurrency": 4},  # as the chart runs it
    }
    path = workdir / "scarlet.yaml"
    path.write_text(yaml.safe_dump(config))
    process = start_service(
        [*cli(), "scarlet", "--config", str(path)],
        workdir / "scarlet.log",
        f"http://127.0.0.1:{health}/healthz",
    )
    processes.append(process)
    return Scarlet(f"http://127.0.0.1:{api}", token), server


def _report(detail: dict[str, Any], namespace: str) -> dict[str, Any]:
    report = detail.get("report") or {}
    end = detail["finished_at"] or detail["updated_at"]
    seconds = (
        datetime.fromisoformat(end) - datetime.fromisoformat(detail["created_at"])
    ).total_seconds()
    findings = report.get("findings") or []
    return {
        "namespace": namespace,
        "status": detail["status"],
        "seconds": seconds,
        "calls": report.get("calls", 0),
        "missing": report.get("missing") or [],
        "found": sorted({f["analyzer"] for f in findings}),
        "on_subject": all(f["namespace"] == namespace for f in findings),
    }


def alert_to_report(scarlet: Scarlet, namespace: str, fingerprint: str) -> dict[str, Any]:
    return _report(scarlet.wait(scarlet.alert(namespace, fingerprint)), namespace)


def burst_of_alerts(scarlet: Scarlet, namespaces: list[str]) -> dict[str, Any]:
    started = time.monotonic()
    with ThreadPoolExecutor(len(namespaces)) as pool:
        runs = list(pool.map(lambda ns: scarlet.alert(ns, f"burst-{ns}"), namespaces))
    reports = [
        _report(scarlet.wait(run_id), ns) for run_id, ns in zip(runs, namespaces, strict=True)
    ]
    return {"all_reported_seconds": round(time.monotonic() - started, 1), **_summary(reports)}


def _summary(reports: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = sorted(r["seconds"] for r in reports)
    return {
        "runs": len(reports),
        "statuses": {
            s: sum(r["status"] == s for r in reports) for s in {r["status"] for r in reports}
        },
        "seconds_p50": round(statistics.median(seconds), 2),
        "seconds_max": round(seconds[-1], 2),
        "calls_max": max(r["calls"] for r in reports),
        "calls_p50": statistics.median(r["calls"] for r in reports),
        "missing": sorted({m for r in reports for m in r["missing"]}),
        "off_subject": [r["namespace"] for r in reports if not r["on_subject"]],
        "found": sorted({a for r in reports for a in r["found"]}),
    }


def _calls(server: Any) -> dict[str, int]:
    """The server's calls by tool, kind and whether they were scoped to a namespace."""
    counts: dict[str, int] = {}
    for record in audit_lines(server.audit_log):
        arguments = record.get("arguments") or {}
        where = "one namespace" if arguments.get("namespace") else "every namespace"
        key = f"{record['tool']} {arguments.get('kind', '')} ({where})"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))
