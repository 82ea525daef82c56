"""The chart's fixtures: its renders, and the control plane it is installed into (once for
the whole package: every module shares the two releases)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.kube import KubeError, KubeHandle
from devstack.tools import Tools

from .helpers import (
    ALL_VALUES,
    CHART,
    SA_TOKENS,
    TEAM_NAMESPACES,
    Doc,
    helm,
    render,
    split_docs,
)


def _ensure_namespace(kube: KubeHandle, name: str, labels: dict[str, str] | None = None) -> None:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
    try:
        kube.request("POST", "/api/v1/namespaces", body)
    except KubeError as exc:
        if exc.status != 409:
            raise


def _wait_for(what: str, check: Any, timeout: float = 45) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


# A minimal structural CRD for ServiceMonitor (the Prometheus Operator is not in the stack):
# enough for the API server to check the fields the chart sets, and refuse unknown ones.
SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {
            "kind": "ServiceMonitor",
            "plural": "servicemonitors",
            "singular": "servicemonitor",
            "listKind": "ServiceMonitorList",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["selector", "endpoints"],
                                "properties": {
                                    "selector": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                    "namespaceSelector": {
                                        "type": "object",
                                        "properties": {
                                            "any": {"type": "boolean"},
                                            "matchNames": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                        },
                                    },
                                    "endpoints": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "port": {"type": "string"},
                                                "path": {"type": "string"},
                                                "interval": {
                                                    "type": "string",
                                                    "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",  # noqa: E501
                                                },
                                                "scrapeTimeout": {
                                                    "type": "string",
                                                    "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",  # noqa: E501
                                                },
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="package")
def default_docs(tools: Tools) -> list[Doc]:
    return split_docs(render(tools, "autodevops"))


@pytest.fixture(scope="package")
def all_docs(tools: Tools) -> list[Doc]:
    return split_docs(render(tools, "autodevops", str(ALL_VALUES)))


@pytest.fixture(scope="package")
def sa_docs(tools: Tools) -> list[Doc]:
    return split_docs(render(tools, "autodevops", str(ALL_VALUES), SA_TOKENS))


@pytest.fixture(scope="package")
def cluster(kube: KubeHandle) -> Iterator[KubeHandle]:
    """The control plane with what the chart expects around it: the team namespaces its
    RBAC names, and the ServiceMonitor kind (removed again if this package added it)."""
    for namespace in TEAM_NAMESPACES:
        _ensure_namespace(kube, namespace)
    crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    added = False
    try:
        kube.request("POST", crd_path, SERVICE_MONITOR_CRD)
        added = True
    except KubeError as exc:
        if exc.status != 409:
            raise

    def established() -> bool:
        crd = kube.request("GET", f"{crd_path}/servicemonitors.monitoring.coreos.com")
        conditions = (crd.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    _wait_for("the ServiceMonitor CRD", established)
    yield kube
    if added:
        kube.request("DELETE", f"{crd_path}/servicemonitors.monitoring.coreos.com")

        def gone() -> bool:
            try:
                kube.request("GET", f"{crd_path}/servicemonitors.monitoring.coreos.com")
            except KubeError as exc:
                return exc.status == 404
            return False

        # Later tests discover the cluster's kinds: the CRD must be gone, not going.
        _wait_for("the ServiceMonitor CRD to go", gone)


@pytest.fixture(scope="package")
def restricted_namespace(cluster: KubeHandle) -> Iterator[str]:
    name = f"chart-{uuid.uuid4().hex[:6]}"
    _ensure_namespace(cluster, name, {"pod-security.kubernetes.io/enforce": "restricted"})
    yield name
    cluster.request("DELETE", f"/api/v1/namespaces/{name}")


def _install(
    tools: Tools, cluster: KubeHandle, namespace: str, *settings: str
) -> Iterator[tuple[str, str]]:
    """The chart with every component (and `settings`), installed by helm; (namespace,
    release), uninstalled afterwards."""
    release = f"adv-{uuid.uuid4().hex[:6]}"
    where = ["--namespace", namespace]
    sets = [a for setting in settings for a in ("--set", setting)]
    out = helm(
        tools,
        "install",
        release,
        str(CHART),
        *where,
        "--values",
        str(ALL_VALUES),
        *sets,
        "--wait",
        "--timeout",
        "60s",
        kube=cluster,
        check=False,
    )
    if "STATUS: deployed" not in out:
        # Its cluster-wide objects and the Roles in the team namespaces must not stay behind.
        helm(tools, "uninstall", release, *where, kube=cluster, check=False)
        pytest.fail(f"helm install failed:\n{out}")
    yield namespace, release
    helm(tools, "uninstall", release, *where, kube=cluster)


@pytest.fixture(scope="package")
def installed(
    tools: Tools, cluster: KubeHandle, restricted_namespace: str
) -> Iterator[tuple[str, str]]:
    """The chart with every component, installed by helm; (namespace, release)."""
    yield from _install(tools, cluster, restricted_namespace)


@pytest.fixture(scope="package")
def installed_sa(
    tools: Tools, cluster: KubeHandle, restricted_namespace: str
) -> Iterator[tuple[str, str]]:
    """The same with serverAuth.mode serviceAccountTokens, next to it; (namespace, release)."""
    yield from _install(tools, cluster, restricted_namespace, SA_TOKENS)
