"""The commands that derive what the Argo CD server needs from its policy: Kubernetes RBAC
for core mode (`policy rbac`) and Argo CD RBAC lines for API mode (`policy argocd-rbac`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from autodevops.servers.argocd.rbac import argocd_policy_csv
from autodevops.servers.core.policy import Policy
from devstack.services import cli

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "policies" / "argocd.yaml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli(), *args], capture_output=True, text=True, timeout=60)


def test_shipped_policy_csv() -> None:
    result = run("policy", "argocd-rbac", str(SHIPPED), "--account", "mcp")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "p, role:mcp, applications, get, */*, allow",
        "p, role:mcp, applications, sync, team-a/team-a-*, allow",
        "p, role:mcp, applications, sync, team-a/team-b-*, allow",
        "p, role:mcp, applications, sync, team-b/team-a-*, allow",
        "p, role:mcp, applications, sync, team-b/team-b-*, allow",
        "g, mcp, role:mcp",
    ]


def test_shipped_policy_core_rbac_is_one_role_in_argocd() -> None:
    result = run("policy", "rbac", str(SHIPPED), "--service-account", "autodevops/mcp-argocd")
    assert result.returncode == 0, result.stderr
    role, binding = list(yaml.safe_load_all(result.stdout))
    assert role["kind"] == "Role" and role["metadata"]["namespace"] == "argocd"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
        {
            "apiGroups": ["argoproj.io"],
            "resources": ["applications"],
            "verbs": ["get", "list", "patch"],
        },
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "mcp-argocd", "namespace": "autodevops"}
    ]


def test_read_only_and_glob_namespaces(tmp_path: Path) -> None:
    policy = Policy.model_validate(
        {
            "server": "argocd",
            "roles": {
                "r": {
                    "tools": ["list_applications", "get_application"],
                    "scope": {
                        "projects": {"allow": ["shop"], "deny": ["shop-admin"]},
                        "app_namespaces": {"allow": ["apps-*"]},
                    },
                }
            },
        }
    )
    assert argocd_policy_csv(policy, "mcp").splitlines()[1:] == [
        "p, role:mcp, applications, get, shop/apps-*/*, allow",
        "p, role:mcp, applications, *, shop-admin/*, deny",
        "g, mcp, role:mcp",
    ]
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy.model_dump()), encoding="utf-8")
    role = yaml.safe_load(run("policy", "rbac", str(path)).stdout)
    assert role["kind"] == "ClusterRole"
    assert role["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["applications"], "verbs": ["get", "list"]}
    ]


def test_servers_that_do_not_call_kubernetes_need_no_rbac() -> None:
    result = run("policy", "rbac", str(REPO / "policies" / "prometheus.yaml"))
    assert result.returncode == 1
    assert "the prometheus server does not use the Kubernetes API" in result.stderr
    wrong = run("policy", "argocd-rbac", str(REPO / "policies" / "prometheus.yaml"))
    assert wrong.returncode == 1 and "derived for argocd policies" in wrong.stderr
