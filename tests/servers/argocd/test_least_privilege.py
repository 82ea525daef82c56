"""Core mode with exactly the RBAC `autodevops policy rbac` derives from the policy, on the
real API server: every allowed tool works, and the API server refuses what no tool needs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from autodevops.servers.argocd.core import ArgoCore
from autodevops.servers.argocd.server import SPEC
from devstack.kube import KubeError
from devstack.services import cli
from tests.mcp_helpers import call_text, server_session

from .conftest import put_apps
from .data import POLICY, READ

SA_NAMESPACE, SA_NAME = "argocd-mcp", "mcp"


@pytest.fixture
def core_token(argocd_cluster: Any, tmp_path: Path) -> str:
    kube = argocd_cluster
    put_apps(kube)
    kube.kubectl("create", "namespace", SA_NAMESPACE, check=False)
    kube.kubectl("-n", SA_NAMESPACE, "create", "serviceaccount", SA_NAME, check=False)
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY), encoding="utf-8")
    rbac = subprocess.run(
        [
            *cli(),
            "policy",
            "rbac",
            str(policy),
            "--name",
            "argocd-mcp-test",
            "--service-account",
            f"{SA_NAMESPACE}/{SA_NAME}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "kind: Role\n" in rbac and "namespace: argocd" in rbac and "ClusterRole" not in rbac
    kube.kubectl("apply", "-f", "-", input=rbac)
    return str(kube.create_token(SA_NAMESPACE, SA_NAME))


async def test_every_tool_works_with_the_derived_rbac(
    argocd_cluster: Any, core_token: str, tmp_path: Path
) -> None:
    kubeconfig = argocd_cluster.kubeconfig_for_token(core_token, tmp_path / "sa.kubeconfig")
    backend = ArgoCore(str(kubeconfig))
    async with server_session(SPEC, backend, POLICY, "team-a", tmp_path) as (client, _):
        for tool in READ:
            args = {} if tool == "list_applications" else {"name": "team-a-api"}
            text, error = await call_text(client, tool, args)
            assert not error, (tool, text)
        writes: list[tuple[str, dict[str, Any]]] = [
            ("sync_application", {"name": "team-a-web", "dry_run": True}),
            ("sync_application", {"name": "team-a-web"}),
            ("rollback_application", {"name": "team-a-api", "id": 0}),
            ("refresh_application", {"name": "team-a-web"}),
            ("terminate_operation", {"name": "team-a-busy"}),
        ]
        for tool, args in writes:
            text, error = await call_text(client, tool, args)
            assert not error, (tool, text)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/apis/argoproj.io/v1alpha1/applications"),  # every namespace
        ("DELETE", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/team-a-web"),
        ("GET", "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects"),
        ("GET", "/api/v1/namespaces/argocd/secrets"),
        ("GET", "/apis/argoproj.io/v1alpha1/namespaces/team-a/applications"),
    ],
)
def test_the_api_server_refuses_what_no_tool_needs(
    argocd_cluster: Any, core_token: str, method: str, path: str
) -> None:
    with pytest.raises(KubeError) as refused:
        argocd_cluster.request(method, path, token=core_token)
    assert refused.value.status == 403
