"""The cluster Scarlet's analyzer tests read: the real local control plane and the real
Prometheus, through `autodevops serve kubernetes|prometheus --transport http` with a read-only
policy.

Without a kubelet, container states are written through the pods' status subresource on a
node kwok does not manage, and Events are created the way the kubelet and scheduler would.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.clients.scarlet.analyzers import (
    AnalyzerScope,
    Finding,
    run_analyzers,
)
from autodevops.servers.kubernetes.tools import READ_TOOLS
from devstack.services import McpServer, start_mcp_server
from tests.conftest import TEST_POLICY, TOKENS
from tests.kube_helpers import wait_for

NODE = "sc-an-node"
CRASH, PODS, ROLL, SVC = "sc-an-crash", "sc-an-pods", "sc-an-roll", "sc-an-svc"
NAMESPACES = [CRASH, PODS, ROLL, SVC]
READ = [t.name for t in READ_TOOLS]
SCARLET, NO_EVENTS = "scarlet-token-0123456789", "no-events-token-0123456789"
SMALL = "small-pages-token-0123456789"
TINY = "tiny-pages-token-0123456789"

KUBE_POLICY: dict[str, Any] = {
    "server": "kubernetes",
    "roles": {
        "scarlet": {
            "tools": READ,
            "scope": {
                "namespaces": {"allow": NAMESPACES},
                "kinds": {"allow": ["*"], "deny": ["Secret"]},
                "verbs": ["get", "list"],
                "cluster_scoped": True,
            },
        },
        "small-pages": {
            "tools": READ,
            "scope": {
                "namespaces": {"allow": NAMESPACES},
                "verbs": ["get", "list"],
                "cluster_scoped": True,
            },
            "limits": {"max_bytes": 6000},
        },
        "tiny-pages": {
            "tools": READ,
            "scope": {"namespaces": {"allow": NAMESPACES}, "verbs": ["get", "list"]},
            "limits": {"max_bytes": 600},
        },
        "no-events": {
            "tools": READ,
            "scope": {
                "namespaces": {"allow": NAMESPACES},
                "kinds": {"allow": ["*"], "deny": ["Event"]},
                "verbs": ["get", "list"],
            },
        },
    },
}


def _pod(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": PODS, "labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": f"{name}:1"}], **spec},
    }


ON_NODE = {"nodeName": NODE, "tolerations": [{"operator": "Exists"}]}

OBJECTS: list[dict[str, Any]] = [
    *({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in NAMESPACES),
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "labels": {"type": "sc-an"}},
        "spec": {"taints": [{"key": "autodevops.test/sc-an", "effect": "NoSchedule"}]},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": CRASH},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "web:3"}], **ON_NODE},
            },
        },
    },
    _pod(
        "hungry",
        {
            "containers": [
                {"name": "app", "image": "hungry:1", "resources": {"limits": {"memory": "64Mi"}}}
            ],
            **ON_NODE,
        },
    ),
    _pod("puller", ON_NODE),
    _pod(
        "configless",
        {
            "containers": [
                {
                    "name": "app",
                    "image": "configless:1",
                    "envFrom": [{"configMapRef": {"name": "app-settings"}}],
                }
            ],
            **ON_NODE,
        },
    ),
    _pod(
        "mountless",
        {
            "volumes": [{"name": "cfg", "configMap": {"name": "mount-settings"}}],
            **ON_NODE,
        },
    ),
    _pod("nowhere", {"nodeSelector": {"type": "sc-an-none"}}),
    _pod("unseen", {"schedulerName": "sc-an-scheduler"}),
    _pod(
        "claimless",
        {
            "nodeSelector": {"type": "kwok"},
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-missing"}}],
        },
    ),
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": ROLL},
        "spec": {
            "replicas": 1,
            "progressDeadlineSeconds": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {
                    "nodeSelector": {"type": "kwok"},
                    "containers": [{"name": "api", "image": "api:1"}],
                },
            },
        },
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "served", "namespace": SVC},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "served"}},
            "template": {
                "metadata": {"labels": {"app": "served"}},
                "spec": {
                    "nodeSelector": {"type": "kwok"},
                    "containers": [{"name": "app", "image": "served:1"}],
                },
            },
        },
    },
    *(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": SVC},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
        }
        for name in ("served", "lonely")
    ),
    # kwok's pod IPs are loopback addresses, which EndpointSlices refuse: the slice of the
    # healthy Service is written here, as a controller other than Kubernetes' own would.
    {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "served-sc-an",
            "namespace": SVC,
            "labels": {
                "kubernetes.io/service-name": "served",
                "endpointslice.kubernetes.io/managed-by": "sc-an.autodevops.test",
            },
        },
        "addressType": "IPv4",
        "ports": [{"port": 80, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.16.0.2"], "conditions": {"ready": True}}],
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "outside", "namespace": SVC},
        "spec": {"type": "ExternalName", "externalName": "example.org"},
    },
]


def _container(image: str, **fields: Any) -> dict[str, Any]:
    return {"name": "app", "image": image, "imageID": "", "ready": False, **fields}


def _status(phase: str, container: dict[str, Any]) -> dict[str, Any]:
    return {"status": {"phase": phase, "containerStatuses": [container]}}


CRASHING = _status(
    "Running",
    _container(
        "web:3",
        restartCount=6,
        state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
        lastState={
            "terminated": {
                "reason": "Error",
                "exitCode": 1,
                "message": "dial tcp 10.96.0.7:5432: connect: connection refused",
            }
        },
    ),
)
STATUSES = {
    "hungry": _status(
        "Running",
        _container(
            "hungry:1",
            ready=True,
            restartCount=1,
            state={"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            lastState={"terminated": {"reason": "OOMKilled", "exitCode": 137}},
        ),
    ),
    "puller": _status(
        "Pending",
        _container(
            "puller:1",
            restartCount=0,
            state={
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": 'Back-off pulling image "puller:1": not found',
                }
            },
        ),
    ),
    "configless": _status(
        "Pending",
        _container(
            "configless:1",
            restartCount=0,
            state={
                "waiting": {
                    "reason": "CreateContainerConfigError",
                    "message": 'configmap "app-settings" not found',
                }
            },
        ),
    ),
}


def _event(pod: str, reason: str, message: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.{reason.lower()}", "namespace": PODS},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": PODS},
        "type": "Warning",
        "reason": reason,
        "message": message,
        "count": 3,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": "kubelet" if reason == "FailedMount" else "sc-an-scheduler"},
    }


def get_deployment(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = kube.request(
        "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    )
    return body


def _pods(kube: Any, namespace: str, selector: str) -> list[dict[str, Any]]:
    path = f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}"
    items: list[dict[str, Any]] = kube.request("GET", path)["items"]
    return items


def _set_status(kube: Any, name: str, namespace: str, status: dict[str, Any]) -> None:
    kube.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/{name}/status",
        status,
        content_type="application/merge-patch+json",
    )


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    conditions = obj.get("status", {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), {})


def _ready_slice(kube: Any) -> bool:
    path = f"/apis/discovery.k8s.io/v1/namespaces/{SVC}/endpointslices"
    slices = kube.request("GET", path + "?labelSelector=kubernetes.io/service-name=served")
    return any(
        (e.get("conditions") or {}).get("ready")
        for s in slices["items"]
        for e in s.get("endpoints") or []
    )


@pytest.fixture(scope="package")
def cluster(kube: Any) -> Iterator[Any]:
    """The broken (and a few healthy) objects every test reads; removed at the end."""
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(OBJECTS))
    wait_for(lambda: len(_pods(kube, CRASH, "app=web")) == 2, "web's two pods")
    for pod in _pods(kube, CRASH, "app=web"):
        _set_status(kube, pod["metadata"]["name"], CRASH, CRASHING)
    for name, status in STATUSES.items():
        _set_status(kube, name, PODS, status)
    kube.request(
        "POST",
        f"/api/v1/namespaces/{PODS}/events",
        _event("unseen", "FailedScheduling", "0/2 nodes are available: 2 Insufficient cpu."),
    )
    kube.request(
        "POST",
        f"/api/v1/namespaces/{PODS}/events",
        _event(
            "mountless",
            "FailedMount",
            'MountVolume.SetUp failed for volume "cfg" : configmap "mount-settings" not found',
        ),
    )
    for name in ("nowhere", "claimless"):
        wait_for(partial(_unschedulable, kube, name), f"the scheduler to give up on pod {name}")
    wait_for(
        lambda: get_deployment(kube, ROLL, "api")["status"].get("availableReplicas") == 1,
        "api's first revision",
    )
    # The second revision lands on the unmanaged node, never becomes ready and misses its
    # two-second progress deadline: the controller itself marks the rollout failed.
    kube.kubectl(
        "-n",
        ROLL,
        "patch",
        "deployment",
        "api",
        "-p",
        '{"spec": {"template": {"spec": {"nodeSelector": null, "nodeName": "sc-an-node", '
        '"tolerations": [{"operator": "Exists"}], '
        '"containers": [{"name": "api", "image": "api:2"}]}}}}',
    )
    wait_for(
        lambda: (
            condition(get_deployment(kube, ROLL, "api"), "Progressing").get("reason")
            == "ProgressDeadlineExceeded"
        ),
        "api's rollout to miss its deadline",
    )
    wait_for(lambda: _ready_slice(kube), "a ready endpoint for Service served")
    # Until kwok reports its pod running, `served` is a rollout with unavailable replicas.
    wait_for(
        lambda: get_deployment(kube, SVC, "served")["status"].get("availableReplicas") == 1,
        "served's pod to be available",
    )
    yield kube
    for namespace in NAMESPACES:
        kube.kubectl("-n", namespace, "delete", "pods", "--all", "--force", "--grace-period=0")
    kube.kubectl("delete", "namespace", *NAMESPACES, "--wait=false")
    kube.kubectl("delete", "node", NODE)


def _unschedulable(kube: Any, name: str) -> bool:
    pod = kube.request("GET", f"/api/v1/namespaces/{PODS}/pods/{name}")
    return condition(pod, "PodScheduled").get("status") == "False"


def _serve(
    server: str, workdir: Path, policy: dict[str, Any], tokens: list[dict[str, Any]], *extra: str
) -> Iterator[McpServer]:
    """`autodevops serve <server> --transport http`, as users run it; stopped afterwards."""
    started = start_mcp_server(workdir, server, policy, tokens, *extra)
    yield started
    started.process.terminate()
    try:
        started.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        started.process.kill()


@pytest.fixture(scope="package")
def kubernetes_server(
    cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[McpServer]:
    entries = [
        {"token": SCARLET, "subject": "scarlet", "roles": ["scarlet"]},
        {"token": NO_EVENTS, "subject": "scarlet-no-events", "roles": ["no-events"]},
        {"token": SMALL, "subject": "scarlet-small-pages", "roles": ["small-pages"]},
        {"token": TINY, "subject": "scarlet-tiny-pages", "roles": ["tiny-pages"]},
    ]
    workdir = tmp_path_factory.mktemp("scarlet-kubernetes")
    yield from _serve(
        "kubernetes", workdir, KUBE_POLICY, entries, "--kubeconfig", str(cluster.kubeconfig)
    )


@pytest.fixture(scope="package")
def prometheus_server(
    prometheus: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[McpServer]:
    yield from _serve(
        "prometheus",
        tmp_path_factory.mktemp("scarlet-prometheus"),
        dict(TEST_POLICY, stdio_role="viewer"),
        [{"token": TOKENS["viewer"], "subject": "scarlet", "roles": ["viewer"]}],
        "--prometheus-url",
        prometheus.url,
    )


def scarlet_pool(kubernetes: McpServer, prometheus: McpServer, token: str = SCARLET) -> McpPool:
    return McpPool(
        [
            HttpEndpoint("kubernetes", kubernetes.url, token),
            HttpEndpoint("prometheus", prometheus.url, TOKENS["viewer"]),
        ]
    )


@pytest.fixture
async def pool(
    kubernetes_server: McpServer, prometheus_server: McpServer
) -> AsyncIterator[McpPool]:
    async with scarlet_pool(kubernetes_server, prometheus_server) as pool:
        yield pool


async def analyze(
    pool: McpPool, *namespaces: str, alert: dict[str, Any] | None = None
) -> tuple[list[Finding], list[str]]:
    return await run_analyzers(pool, AnalyzerScope(list(namespaces) or None), alert)


def by_subject(findings: list[Finding], analyzer: str) -> dict[str, Finding]:
    return {f.subject: f for f in findings if f.analyzer == analyzer}
