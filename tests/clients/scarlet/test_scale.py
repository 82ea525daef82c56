"""Scarlet on a few hundred pods: a namespace alert reads that namespace only, within a handful
of calls, through the Kubernetes server with the shipped policy and Scarlet's role in it.
`bench/scarlet_scale.py` measures the same at 1,000 pods and 50 namespaces."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.clients.scarlet.analyzers import AnalyzerScope, Subject, diagnose
from devstack.services import McpServer, audit_lines, start_mcp_server

REPO = Path(__file__).resolve().parents[3]
NAMESPACES = [f"scale-{i:02d}" for i in range(12)]
BROKEN = NAMESPACES[:3]  # their `api` asks for a node pool that does not exist
REPLICAS = 10
MAX_CALLS = 10
CLUSTER_KINDS = {"nodes", "storageclasses.storage.k8s.io"}


def _deployment(namespace: str, name: str, pool: str | None) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"type": "kwok"} | ({"pool": pool} if pool else {}),
                    "containers": [{"name": "app", "image": f"registry.example/{name}:1"}],
                },
            },
        },
    }


def _settled(kube: Any) -> bool:
    pods = [
        p
        for ns in NAMESPACES
        for p in kube.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"]
    ]
    running = sum(p.get("status", {}).get("phase") == "Running" for p in pods)
    return len(pods) == len(NAMESPACES) * 2 * REPLICAS + len(BROKEN) * REPLICAS and running == (
        len(NAMESPACES) * 2 * REPLICAS
    )


@pytest.fixture(scope="module")
def crowded(kube: Any) -> Iterator[Any]:
    bodies = [_deployment(ns, name, None) for ns in NAMESPACES for name in ("web", "worker")] + [
        _deployment(ns, "api", "gpu") for ns in BROKEN
    ]
    for ns in NAMESPACES:
        kube.request(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        )
    with ThreadPoolExecutor(8) as pool:
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
    deadline = time.monotonic() + 240
    while not _settled(kube):
        assert time.monotonic() < deadline, "the pods did not settle within 240 s"
        time.sleep(1)
    yield kube
    kube.kubectl("delete", "namespace", *NAMESPACES, "--wait=false")


@pytest.fixture(scope="module")
def server(
    crowded: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[McpServer, str]]:
    policy = yaml.safe_load((REPO / "policies" / "kubernetes.yaml").read_text())
    token = secrets.token_urlsafe(24)
    started = start_mcp_server(
        tmp_path_factory.mktemp("scale"),
        "kubernetes",
        policy,
        [{"token": token, "subject": "scarlet", "roles": ["agent", "operator"]}],
        "--kubeconfig",
        str(crowded.kubeconfig),
    )
    yield started, token
    started.stop()


@pytest.fixture
async def pool(server: tuple[McpServer, str]) -> AsyncIterator[McpPool]:
    async with McpPool([HttpEndpoint("kubernetes", server[0].url, server[1])]) as pool:
        yield pool


@pytest.mark.parametrize("namespace", [*BROKEN, NAMESPACES[-1]])
async def test_a_namespace_alert_reads_its_namespace_only_in_a_handful_of_calls(
    pool: McpPool, server: tuple[McpServer, str], namespace: str
) -> None:
    before = len(audit_lines(server[0].audit_log))
    done = await diagnose(pool, AnalyzerScope(None), Subject(namespace, why="alert label"))
    assert done.missing == [], done.missing
    assert done.calls <= MAX_CALLS, done.calls
    assert all(f.namespace == namespace for f in done.findings), done.findings
    pending = {f.subject for f in done.findings if f.analyzer == "pending"}
    if namespace in BROKEN:
        assert pending == {f"Deployment {namespace}/api"}, done.findings
    else:
        assert done.findings == []
    calls = audit_lines(server[0].audit_log)[before:]
    assert 0 < len(calls) <= done.calls  # one more: the alerts, with no Prometheus here
    for call in calls:
        arguments = call["arguments"]
        if arguments.get("kind") not in CLUSTER_KINDS:
            assert arguments.get("namespace") == namespace, call
        assert "continue_from" not in arguments, "a namespace's pods fit one page"
