"""Proof that the stack's Kubernetes is a real API server: RBAC, tokens, reviews, Pod Security."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from devstack.kube import FAKE_LOG, FAKE_NODE, KubeError, KubeHandle

RESTRICTED_CONTAINER: dict[str, Any] = {
    "name": "app",
    "image": "registry.invalid/app:1",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _eventually(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {check}")
        time.sleep(0.5)


def _manifest(*docs: dict[str, Any]) -> str:
    return "\n---\n".join(json.dumps(doc) for doc in docs)


def test_kubectl_creates_namespace_and_deployment(kube: KubeHandle) -> None:
    ns = _name("stack-deploy")
    kube.kubectl("create", "namespace", ns)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [RESTRICTED_CONTAINER]},
            },
        },
    }
    kube.kubectl("apply", "-f", "-", input=_manifest(deployment))
    got = json.loads(kube.kubectl("get", "deployment", "web", "-n", ns, "-o", "json").stdout)
    assert got["spec"]["replicas"] == 2

    # The controller-manager turns the Deployment into a ReplicaSet and that into Pods.
    def pods() -> list[dict[str, Any]]:
        out = kube.kubectl("get", "pods", "-n", ns, "-l", "app=web", "-o", "json").stdout
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items if len(items) == 2 else []

    assert all(
        p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in _eventually(pods)
    )
    # The scheduler binds them to kwok's fake node, kwok reports them Running: rollouts finish.
    kube.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    assert {p["spec"].get("nodeName") for p in pods()} == {FAKE_NODE}
    assert {p["status"]["phase"] for p in pods()} == {"Running"}

    # Garbage collection: deleting the Deployment removes its ReplicaSet and Pods.
    kube.kubectl("delete", "deployment", "web", "-n", ns, "--wait=false")

    def gone() -> bool:
        out = kube.kubectl("get", "replicasets,pods", "-n", ns, "-o", "json").stdout
        return not json.loads(out)["items"]

    _eventually(gone)


@pytest.fixture
def reader(kube: KubeHandle) -> tuple[str, str, str]:
    """A ServiceAccount that a Role lets get and list pods (only) in its namespace."""
    ns, other = _name("stack-rbac"), _name("stack-other")
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "pod-reader", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "reader-reads-pods", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
    }
    kube.kubectl("create", "namespace", ns)
    kube.kubectl("create", "namespace", other)
    kube.kubectl("create", "serviceaccount", "reader", "-n", ns)
    kube.kubectl("apply", "-f", "-", input=_manifest(role, binding))
    return ns, other, kube.create_token(ns, "reader")


def test_rbac_allows_what_the_role_grants_and_refuses_the_rest(
    kube: KubeHandle, reader: tuple[str, str, str]
) -> None:
    ns, other, token = reader
    core = client.CoreV1Api(kube.api_client(token))
    assert core.list_namespaced_pod(ns).items == []
    for call, args in (
        (core.list_namespaced_secret, (ns,)),
        (core.list_namespaced_pod, (other,)),
        (core.list_namespace, ()),
    ):
        with pytest.raises(ApiException) as refused:
            call(*args)
        assert refused.value.status == 403, call
    # The same refusal on the raw wire, as the API server words it.
    with pytest.raises(KubeError) as raw:
        kube.request("DELETE", f"/api/v1/namespaces/{ns}/pods/anything", token=token)
    assert raw.value.status == 403
    assert f"system:serviceaccount:{ns}:reader" in raw.value.body["message"]


def test_subject_access_review_agrees(kube: KubeHandle, reader: tuple[str, str, str]) -> None:
    ns, other, _ = reader

    def allowed(verb: str, resource: str, namespace: str) -> bool:
        review = kube.request(
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": f"system:serviceaccount:{ns}:reader",
                    "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}"],
                    "resourceAttributes": {
                        "namespace": namespace,
                        "verb": verb,
                        "resource": resource,
                    },
                },
            },
        )
        return bool(review["status"]["allowed"])

    assert allowed("list", "pods", ns)
    assert allowed("get", "pods", ns)
    assert not allowed("delete", "pods", ns)
    assert not allowed("list", "secrets", ns)
    assert not allowed("list", "pods", other)


def test_token_review_resolves_the_service_account(
    kube: KubeHandle, reader: tuple[str, str, str]
) -> None:
    ns, _, token = reader

    def review(candidate: str) -> dict[str, Any]:
        result: dict[str, Any] = kube.request(
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": candidate},
            },
        )["status"]
        return result

    status = review(token)
    assert status["authenticated"] is True
    assert status["user"]["username"] == f"system:serviceaccount:{ns}:reader"
    assert f"system:serviceaccounts:{ns}" in status["user"]["groups"]
    assert review(token[:-4] + "AAAA").get("authenticated") is not True


def test_pod_security_restricted_refuses_a_privileged_pod(kube: KubeHandle) -> None:
    ns = _name("stack-psa")
    kube.kubectl("create", "namespace", ns)
    kube.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": ns},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.invalid/app:1",
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }
    with pytest.raises(KubeError) as refused:
        kube.request("POST", f"/api/v1/namespaces/{ns}/pods", privileged)
    assert refused.value.status == 403
    assert 'violates PodSecurity "restricted:' in refused.value.body["message"]

    compliant = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "fine", "namespace": ns},
        "spec": {"containers": [RESTRICTED_CONTAINER]},
    }
    created = kube.request("POST", f"/api/v1/namespaces/{ns}/pods?dryRun=All", compliant)
    assert created["metadata"]["name"] == "fine"


def test_pods_on_the_fake_node_run_and_serve_the_fake_log(kube: KubeHandle) -> None:
    """kwok moves the pod to Running and serves its log through the API server; no exec."""
    ns = _name("stack-logs")
    kube.kubectl("create", "namespace", ns)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns},
        "spec": {"containers": [RESTRICTED_CONTAINER]},
    }
    kube.request("POST", f"/api/v1/namespaces/{ns}/pods", pod)

    def running() -> dict[str, Any] | None:
        got: dict[str, Any] = kube.request("GET", f"/api/v1/namespaces/{ns}/pods/p")
        return got if got["status"].get("phase") == "Running" else None

    got = _eventually(running)
    assert got["spec"]["nodeName"] == FAKE_NODE
    assert got["status"]["podIP"].startswith("127.")
    logs = kube.kubectl("logs", "-n", ns, "p").stdout
    assert logs.splitlines() == [line.split(" ", 3)[3] for line in FAKE_LOG.splitlines()]
    tail = kube.kubectl("logs", "-n", ns, "p", "--tail=1").stdout
    assert tail == "ready\n"
    # There is no container to exec into.
    assert kube.kubectl("exec", "-n", ns, "p", "--", "true", check=False).returncode != 0


# The node lifecycle controller marks a node NotReady when it has not heard from it for its
# grace period (50 s); kwok's own stages report the node once, at start.
PAST_GRACE_SECONDS = 75


@pytest.mark.slow
def test_the_fake_node_stays_ready_past_the_node_grace_period(kube: KubeHandle) -> None:
    """Slow on purpose: it waits until the stack has run past the controller's grace period,
    then finds the node Ready with a fresh heartbeat and a Deployment still available."""
    ns = _name("stack-heartbeat")
    kube.kubectl("create", "namespace", ns)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "steady", "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "steady"}},
            "template": {
                "metadata": {"labels": {"app": "steady"}},
                "spec": {"containers": [RESTRICTED_CONTAINER]},
            },
        },
    }
    kube.request("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment)
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/steady"
    _eventually(lambda: kube.request("GET", path)["status"].get("availableReplicas") == 1)
    node = kube.request("GET", f"/api/v1/nodes/{FAKE_NODE}")
    created = datetime.fromisoformat(node["metadata"]["creationTimestamp"])
    waited = PAST_GRACE_SECONDS - (datetime.now(UTC) - created).total_seconds()
    time.sleep(max(0.0, waited))

    node = kube.request("GET", f"/api/v1/nodes/{FAKE_NODE}")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True", ready
    beat = datetime.fromisoformat(ready["lastHeartbeatTime"])
    assert (datetime.now(UTC) - beat).total_seconds() < 30, ready
    taints = [t["key"] for t in node["spec"].get("taints") or []]
    assert not [t for t in taints if t.startswith("node.kubernetes.io/")], taints
    status = kube.request("GET", path)["status"]
    assert status.get("availableReplicas") == 1, status
