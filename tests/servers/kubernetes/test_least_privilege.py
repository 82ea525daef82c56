"""The shipped Kubernetes policy and its RBAC agree, proven on the real API server.

The rules printed by `autodevops policy rbac` are applied for a ServiceAccount; the server
runs with that account's token; every allowed tool works, and what the policy forbids is
refused twice over: by the gate (a clear, audited error) and by the API server
(SubjectAccessReview says no).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from autodevops.servers.core.policy import load_policy
from autodevops.servers.kubernetes.client import KubeBackend
from autodevops.servers.kubernetes.rbac import grants
from autodevops.servers.kubernetes.server import SPEC
from autodevops.servers.kubernetes.tools import TOOLS
from devstack.services import audit_lines
from tests.kube_helpers import wait_for
from tests.mcp_helpers import call_text, server_session

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "policies" / "kubernetes.yaml"
SA_NAMESPACE, SA_NAME = "autodevops-system", "mcp-kubernetes"
SA_USER = f"system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"

SETUP = """
apiVersion: v1
kind: Namespace
metadata: {name: autodevops-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: mcp-kubernetes, namespace: autodevops-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: team-a}
stringData: {token: very-secret}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: team-a}
spec:
  replicas: 1
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      nodeSelector: {type: kwok}
      containers: [{name: shop, image: "shop:1"}]
"""


def sar(
    kube: Any, verb: str, resource: str, namespace: str = "", group: str = "", subresource: str = ""
) -> bool:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": SA_USER,
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{SA_NAMESPACE}",
                "system:authenticated",
            ],
            "resourceAttributes": {
                "verb": verb,
                "resource": resource,
                "namespace": namespace,
                "group": group,
                "subresource": subresource,
            },
        },
    }
    answer = kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return bool(answer["status"].get("allowed"))


@pytest.fixture(scope="module")
def service_account(kube: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    kube.kubectl("apply", "-f", "-", input=SETUP)
    rbac = subprocess.run(
        [
            sys.executable,
            "-m",
            "autodevops.clients.cli",
            "policy",
            "rbac",
            str(SHIPPED),
            "--service-account",
            f"{SA_NAMESPACE}/{SA_NAME}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    kube.kubectl("apply", "-f", "-", input=rbac)
    kube.kubectl("-n", "team-a", "set", "image", "deployment/shop", "shop=shop:2")
    wait_for(lambda: _revisions(kube) >= 2, "a second revision of team-a/shop")
    token = kube.create_token(SA_NAMESPACE, SA_NAME)
    path: Path = kube.kubeconfig_for_token(
        token, tmp_path_factory.mktemp("sa") / "kubeconfig", user=SA_NAME
    )
    return path


def _revisions(kube: Any) -> int:
    sets = kube.request("GET", "/apis/apps/v1/namespaces/team-a/replicasets")
    return len([rs for rs in sets["items"] if rs["metadata"]["name"].startswith("shop-")])


@pytest.fixture
def shipped_policy() -> dict[str, Any]:
    policy: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    return policy


async def session_as(
    service_account: Path, policy: dict[str, Any], role: str, tmp_path: Path
) -> Any:
    return server_session(SPEC, KubeBackend(str(service_account)), policy, role, tmp_path)


def test_every_permission_the_policy_needs_is_granted(kube: Any, service_account: Path) -> None:
    needed = grants(load_policy(SHIPPED, SPEC.scope_model))
    assert needed
    resources = {g.resource for g in needed}
    assert "secrets" not in resources and "pods/exec" not in resources
    for grant in needed:
        resource, _, subresource = grant.resource.partition("/")
        assert sar(kube, grant.verb, resource, grant.namespace or "", grant.group, subresource), (
            grant
        )


@pytest.mark.parametrize(
    ("verb", "resource", "namespace", "group", "subresource"),
    [
        ("get", "secrets", "team-a", "", ""),
        ("list", "secrets", "", "", ""),
        ("create", "pods", "team-a", "", "exec"),
        ("delete", "pods", "team-a", "", ""),
        ("patch", "deployments", "kube-system", "apps", ""),
        ("patch", "nodes", "", "", ""),
        ("impersonate", "users", "", "", ""),
        ("create", "clusterrolebindings", "", "rbac.authorization.k8s.io", ""),
        ("escalate", "clusterroles", "", "rbac.authorization.k8s.io", ""),
        ("create", "serviceaccounts", "team-a", "", "token"),
    ],
)
def test_dangerous_permissions_are_not_granted(
    kube: Any,
    service_account: Path,
    verb: str,
    resource: str,
    namespace: str,
    group: str,
    subresource: str,
) -> None:
    assert not sar(kube, verb, resource, namespace, group, subresource)


VIEWER_CALLS = [
    ("api_resources", {"filter": "apps"}),
    ("list_resources", {"kind": "pods"}),
    ("list_resources", {"kind": "deployments", "namespace": "team-a"}),
    ("get_resource", {"kind": "Deployment", "name": "shop", "namespace": "team-a"}),
    ("describe", {"kind": "Deployment", "name": "shop", "namespace": "team-a"}),
    ("events", {"namespace": "team-a"}),
    ("namespaces_overview", {}),
    ("nodes_overview", {}),
    ("rollout_status", {"name": "shop", "namespace": "team-a"}),
    ("pod_logs", {"name": "<shop pod>", "namespace": "team-a"}),
]

OPERATOR_CALLS = [
    ("api_resources", {"filter": "apps"}),
    ("list_resources", {"kind": "pods", "namespace": "team-a"}),
    ("get_resource", {"kind": "Deployment", "name": "shop", "namespace": "team-a"}),
    ("events", {"namespace": "team-b"}),
    ("describe", {"kind": "Deployment", "name": "shop", "namespace": "team-a"}),
    ("rollout_status", {"name": "shop", "namespace": "team-a"}),
    ("pod_logs", {"name": "<shop pod>", "namespace": "team-a"}),
    ("scale", {"name": "shop", "namespace": "team-a", "replicas": 2, "dry_run": True}),
    ("rollout_restart", {"name": "shop", "namespace": "team-a", "dry_run": True}),
    ("rollback", {"name": "shop", "namespace": "team-a", "dry_run": True}),
]


@pytest.mark.parametrize(
    ("role", "calls"), [("viewer", VIEWER_CALLS), ("operator", OPERATOR_CALLS)]
)
async def test_every_allowed_tool_works_with_only_the_derived_rbac(
    kube: Any,
    service_account: Path,
    shipped_policy: dict[str, Any],
    tmp_path: Path,
    role: str,
    calls: list[tuple[str, dict[str, Any]]],
) -> None:
    pod = _shop_pod(kube)
    allowed = {t.name for t in TOOLS if load_policy(SHIPPED).roles[role].allows(t.name)}
    assert allowed == {name for name, _ in calls}
    async with await session_as(service_account, shipped_policy, role, tmp_path) as (client, _):
        assert {t.name for t in await client.list_tools()} == allowed
        for tool, arguments in calls:
            arguments = {k: (pod if v == "<shop pod>" else v) for k, v in arguments.items()}
            text, error = await call_text(client, tool, arguments)
            assert not error, f"{tool}: {text}"


def _shop_pod(kube: Any) -> str:
    pods = kube.request("GET", "/api/v1/namespaces/team-a/pods?labelSelector=app%3Dshop")
    running = [p for p in pods["items"] if p["status"].get("phase") == "Running"]
    return str(running[0]["metadata"]["name"])


@pytest.mark.parametrize(
    ("role", "tool", "arguments", "reason", "review"),
    [
        (
            "viewer",
            "get_resource",
            {"kind": "Secret", "name": "creds", "namespace": "team-a"},
            "out_of_scope",
            ("get", "secrets", "team-a", "", ""),
        ),
        (
            "viewer",
            "delete_resource",
            {"kind": "Pod", "name": "x", "namespace": "team-a"},
            "tool_not_allowed",
            ("delete", "pods", "team-a", "", ""),
        ),
        (
            "viewer",
            "scale",
            {"name": "shop", "namespace": "kube-system", "replicas": 3},
            "tool_not_allowed",
            ("patch", "deployments", "kube-system", "apps", "scale"),
        ),
        (
            "operator",
            "scale",
            {"name": "coredns", "namespace": "kube-system", "replicas": 0},
            "out_of_scope",
            ("patch", "deployments", "kube-system", "apps", "scale"),
        ),
        ("operator", "list_resources", {"kind": "nodes"}, "out_of_scope", None),
        (
            "operator",
            "cordon",
            {"node": "kwok-node-0"},
            "tool_not_allowed",
            ("patch", "nodes", "", "", ""),
        ),
        (
            "operator",
            "list_resources",
            {"kind": "secrets", "namespace": "team-a"},
            "out_of_scope",
            ("list", "secrets", "team-a", "", ""),
        ),
    ],
)
async def test_forbidden_calls_are_refused_twice_over(
    kube: Any,
    service_account: Path,
    shipped_policy: dict[str, Any],
    tmp_path: Path,
    role: str,
    tool: str,
    arguments: dict[str, Any],
    reason: str,
    review: tuple[str, str, str, str, str] | None,
) -> None:
    async with await session_as(service_account, shipped_policy, role, tmp_path) as (client, audit):
        text, error = await call_text(client, tool, arguments)
    assert error, text
    record = audit_lines(audit)[-1]
    assert (record["decision"], record["reason"], record["tool"]) == ("deny", reason, tool)
    if review is not None:
        assert not sar(kube, *review)
