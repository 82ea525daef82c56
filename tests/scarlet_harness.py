"""Scarlet as users run it, for every test that needs one: real PostgreSQL, the project's
real MCP servers over HTTP, the local control plane, the fake model; the `scarlet_factory`
fixture starts one per module under a name, and the helpers send alerts and wait for runs."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from devstack.base import free_port
from devstack.services import cli, start_mcp_server, start_service
from tests.kube_helpers import wait_for

NAMESPACE = "sc-e2e"
NODE = "scarlet-ghost"
READ_TOOLS = [
    "api_resources",
    "list_resources",
    "get_resource",
    "describe",
    "events",
    "rollout_status",
    "pod_logs",
]

CLUSTER = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: v1
kind: Node
metadata: {{name: {NODE}, labels: {{autodevops-test: {NODE}}}}}
spec:
  taints: [{{key: autodevops.test/ghost, effect: NoSchedule}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: shop, namespace: {NAMESPACE}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: shop}}}}
  template:
    metadata: {{labels: {{app: shop}}}}
    spec:
      nodeName: {NODE}
      tolerations: [{{operator: Exists}}]
      containers: [{{name: shop, image: "shop:7"}}]
"""


@dataclass
class Scarlet:
    api: str
    health: str
    metrics: str
    tokens: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    dsn: str

    def post(self, path: str, body: Any, who: str = "alertmanager") -> httpx.Response:
        return httpx.post(
            f"{self.api}{path}",
            json=body,
            timeout=10,
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
        )

    def get(self, path: str, who: str = "alice") -> Any:
        response = httpx.get(
            f"{self.api}{path}", timeout=10, headers={"Authorization": f"Bearer {self.tokens[who]}"}
        )
        response.raise_for_status()
        return response.json()

    def wait_run(self, run_id: int, statuses: set[str], timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        detail: dict[str, Any] = {}
        while time.monotonic() < deadline:
            detail = self.get(f"/v1/runs/{run_id}")
            if detail["status"] in statuses:
                return detail
            time.sleep(0.3)
        raise AssertionError(
            f"run {run_id} never reached {statuses}: {detail}\n{self.log.read_text()[-3000:]}"
        )


def alert(fingerprint: str, status: str = "firing", namespace: str = NAMESPACE) -> dict[str, Any]:
    return {
        "version": "4",
        "status": status,
        "receiver": "scarlet",
        "alerts": [
            {
                "status": status,
                "fingerprint": fingerprint,
                "labels": {
                    "alertname": "KubePodCrashLooping",
                    "namespace": namespace,
                    "severity": "critical",
                },
                "annotations": {"summary": f"a pod of {namespace} restarts again and again"},
                "startsAt": "2026-11-28T10:00:00Z",
            }
        ],
    }


def fresh_database(server_url: str, name: str) -> str:
    """A new, empty database on the test PostgreSQL; returns its DSN."""
    database = f"scarlet_{name}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    return psycopg.conninfo.make_conninfo(server_url, dbname=database)


def mcp_server(
    workdir: Path, server: str, policy: dict[str, Any], token: str, *extra: str
) -> tuple[str, subprocess.Popen[bytes]]:
    tokens = [{"token": token, "subject": "scarlet", "roles": ["scarlet"]}]
    started = start_mcp_server(workdir, server, policy, tokens, *extra)
    return started.url, started.process


def crash_the_pods(
    kube: Any, said: str = "dial tcp 10.96.0.9:6379: connect: connection refused"
) -> None:
    """The shop's pods crash-loop; `said` is their last termination message (the evidence)."""

    def bound() -> list[str]:
        pods = kube.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app%3Dshop")
        return [p["metadata"]["name"] for p in pods["items"] if p["spec"].get("nodeName")]

    wait_for(lambda: bool(bound()), "the shop pod bound to the ghost node")
    for name in bound():
        kube.request(
            "PATCH",
            f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/status",
            {
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        {
                            "name": "shop",
                            "image": "shop:7",
                            "imageID": "",
                            "ready": False,
                            "restartCount": 9,
                            "state": {
                                "waiting": {
                                    "reason": "CrashLoopBackOff",
                                    "message": "back-off 5m0s restarting failed container",
                                }
                            },
                            "lastState": {
                                "terminated": {
                                    "reason": "Error",
                                    "exitCode": 1,
                                    "message": said,
                                }
                            },
                        }
                    ],
                }
            },
            content_type="application/merge-patch+json",
        )


@pytest.fixture(scope="module")
def scarlet_factory(
    kube: Any, prometheus: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Scarlet]]:
    workdir = tmp_path_factory.mktemp("scarlet")
    kube.kubectl("apply", "-f", "-", input=CLUSTER)
    crash_the_pods(kube)
    processes: list[subprocess.Popen[bytes]] = []
    kube_token, prom_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    kube_policy = {
        "server": "kubernetes",
        "roles": {
            "scarlet": {
                "tools": [*READ_TOOLS, "rollout_restart", "rollback"],
                "scope": {"namespaces": {"allow": [NAMESPACE]}, "verbs": ["get", "list", "patch"]},
            }
        },
    }
    prom_policy = {"server": "prometheus", "roles": {"scarlet": {"tools": ["*"]}}}
    kube_url, kube_server = mcp_server(
        workdir, "kubernetes", kube_policy, kube_token, "--kubeconfig", str(kube.kubeconfig)
    )
    prom_url, prom_server = mcp_server(
        workdir, "prometheus", prom_policy, prom_token, "--prometheus-url", prometheus.url
    )
    processes += [kube_server, prom_server]
    (workdir / "kube-token").write_text(kube_token)
    (workdir / "prom-token").write_text(prom_token)

    def start(name: str, database: str | None = None, **overrides: Any) -> Scarlet:
        """`database`: the DSN of an existing operations database (a Scarlet restarted on
        it); by default a fresh one."""
        dsn = database or fresh_database(postgres.url, name)
        (workdir / f"{name}-dsn").write_text(dsn)
        tokens = {
            who: secrets.token_urlsafe(24) for who in ("alertmanager", "alice", "bob", "jamie")
        }
        (workdir / f"{name}-api-tokens.yaml").write_text(
            yaml.safe_dump(
                [
                    {
                        "token": tokens["alertmanager"],
                        "subject": "alertmanager",
                        "roles": ["submitter"],
                    },
                    {
                        "token": tokens["alice"],
                        "subject": "alice",
                        "roles": ["approver", "viewer", "submitter"],
                    },
                    {"token": tokens["bob"], "subject": "bob", "roles": ["viewer"]},
                    {"token": tokens["jamie"], "subject": "jamie", "roles": ["viewer"]},
                ]
            )
        )
        api, metrics, health = free_port(), free_port(), free_port()
        config = {
            "database_url_file": str(workdir / f"{name}-dsn"),
            "servers": [
                {"name": "kubernetes", "url": kube_url, "token_file": str(workdir / "kube-token")},
                {"name": "prometheus", "url": prom_url, "token_file": str(workdir / "prom-token")},
            ],
            "model": {"host": f"http://127.0.0.1:{free_port()}", "probe_seconds": 1},
            "actions": {
                "rules": [
                    {
                        "tool": "kubernetes__rollout_restart",
                        "decision": "approval",
                        "approver_roles": ["approver", "operator"],
                    },
                    {"tool": "kubernetes__rollback", "decision": "approval"},
                ],
                "approval_expiry_seconds": 600,
            },
            # Jamie may act for people; tests of deciding through it hand on `operator` too.
            "delegates": [{"subject": "jamie", "roles": ["viewer"]}],
            "namespaces": [NAMESPACE],
            "api_tokens_file": str(workdir / f"{name}-api-tokens.yaml"),
            "ports": {"api": api, "metrics": metrics, "health": health},
            "worker": {"poll_seconds": 0.2, "stale_after_seconds": 3, "heartbeat_seconds": 1},
            **overrides,
        }
        path = workdir / f"{name}-config.yaml"
        path.write_text(yaml.safe_dump(config))
        log = workdir / f"{name}.log"
        health_url = f"http://127.0.0.1:{health}"
        process = start_service(
            [*cli(), "scarlet", "--config", str(path)], log, f"{health_url}/healthz"
        )
        processes.append(process)
        metrics_url = f"http://127.0.0.1:{metrics}/metrics"
        return Scarlet(
            f"http://127.0.0.1:{api}", health_url, metrics_url, tokens, process, log, dsn
        )

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def restarted_at(kube: Any) -> str | None:
    deployment = kube.request("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/shop")
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    value = annotations.get("kubectl.kubernetes.io/restartedAt")
    return str(value) if value else None


# Jamie hands on its people's viewer and operator roles (operators decide restarts).
JAMIE_DELEGATES = [{"subject": "jamie", "roles": ["viewer", "operator"]}]


def restarts(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's restarts that ran for real (its dry runs left out)."""
    return [
        call
        for call in detail["tool_calls"]
        if call["tool"] == "kubernetes__rollout_restart" and not call["arguments"].get("dry_run")
    ]


def waiting_run(scarlet: Scarlet, fingerprint: str) -> tuple[int, dict[str, Any]]:
    response = scarlet.post("/v1/alerts", alert(fingerprint))
    assert response.status_code == 202, response.text
    run_id = response.json()["runs"][0]["run"]
    return run_id, scarlet.wait_run(run_id, {"waiting_approval"})
