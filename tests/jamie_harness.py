"""Fixtures for Jamie as users run it, with real Redis, FerretDB, Kubernetes and Prometheus
MCP servers from the local stack, and the fake model; `ana` may scale in the shop namespace,
`ben` only reads."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from autodevops.servers.registry import load_spec
from devstack.jamie import Deployment, Jamie, mcp_deployment, write_users
from tests.fakes.fake_ollama import FakeOllama

NAMESPACE = "jamie-shop"
_REDIS_DBS = itertools.cycle(range(1, 16))
KUBE_READ = [t.name for t in load_spec("kubernetes").tools if t.read_only]
CLUSTER = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NAMESPACE}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      nodeSelector: {{type: kwok}}
      tolerations: [{{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}}]
      containers: [{{name: web, image: "web:1"}}]
"""


def fake_of(jamie: Jamie) -> FakeOllama:
    """The scripted model of a Jamie started with one."""
    assert isinstance(jamie.model_server, FakeOllama), "this Jamie runs without the fake model"
    return jamie.model_server


@pytest.fixture(scope="module")
def jamie_deployment(
    kube: Any, prometheus: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("jamie")
    kube.kubectl("apply", "-f", "-", input=CLUSTER)
    write_users(workdir)
    scope = {"namespaces": {"allow": [NAMESPACE]}, "verbs": ["get", "list", "patch"]}
    kube_roles = {
        "viewer": {"tools": KUBE_READ, "scope": scope},
        "operator": {"tools": [*KUBE_READ, "scale"], "scope": scope},
    }
    prom_roles = {"viewer": {"tools": ["*"]}, "operator": {"tools": ["*"]}}
    servers: dict[str, tuple[dict[str, Any], list[str]]] = {
        "kubernetes": (kube_roles, ["--kubeconfig", str(kube.kubeconfig)]),
        "prometheus": (prom_roles, ["--prometheus-url", prometheus.url]),
    }
    deployment = mcp_deployment(workdir, servers, next(_REDIS_DBS))
    yield deployment
    deployment.stop()


@pytest.fixture(scope="module")
def jamie_service(jamie_deployment: Deployment, redis: Any, ferretdb: Any) -> Iterator[Jamie]:
    """The Jamie most tests share; its fake model answers every model listing."""
    with FakeOllama() as fake:
        fake.always_answer_tags()
        jamie = jamie_deployment.start("main", fake, redis.url, ferretdb.url)
        yield jamie
        jamie.close()
    fake.verify()


def reset_replicas(kube: Any) -> None:
    """`web` back to one replica, so a test sees whether its own write ran."""
    kube.request(
        "PATCH",
        f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/web",
        {"spec": {"replicas": 1}},
        content_type="application/merge-patch+json",
    )


def replicas(kube: Any) -> int:
    deployment = kube.request("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/web")
    return int(deployment["spec"]["replicas"])


def early_in_a_minute() -> None:
    """Limits count in fixed one-minute windows: a burst must not straddle two of them."""
    if time.time() % 60 > 45:
        time.sleep(60.5 - time.time() % 60)
