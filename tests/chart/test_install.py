"""The control plane accepts every object, admits the pods under Pod Security `restricted`
and runs the installed release."""

from __future__ import annotations

import json

import pytest

from devstack.kube import FAKE_NODE, KubeError, KubeHandle
from devstack.tools import Tools

from .helpers import ALL_VALUES, SA_TOKENS, SERVERS, name_of, render, split_docs


def test_every_object_passes_server_side_dry_run(
    tools: Tools, cluster: KubeHandle, restricted_namespace: str
) -> None:
    for values in ((), (str(ALL_VALUES),), (str(ALL_VALUES), SA_TOKENS)):
        manifest = render(tools, restricted_namespace, *values, release="dry")
        result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
        applied = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
        assert len(applied) == len(split_docs(manifest))
        # Pod Security warns (never refuses) at the Deployment level: no warning may appear.
        assert "PodSecurity" not in result.stderr, result.stderr


def test_rendered_pods_pass_restricted_admission(
    tools: Tools, cluster: KubeHandle, restricted_namespace: str
) -> None:
    """Each Deployment's pod, created as a bare Pod (dry run) where `restricted` is enforced;
    a weakened copy is refused, so the check can fail. Both ways the clients authenticate."""
    docs = split_docs(render(tools, restricted_namespace, str(ALL_VALUES), release="pods"))
    docs += split_docs(render(tools, restricted_namespace, str(ALL_VALUES), SA_TOKENS))
    path = f"/api/v1/namespaces/{restricted_namespace}/pods?dryRun=All"
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        template = deployment["spec"]["template"]
        # The release's ServiceAccounts do not exist here; the namespace's default one does.
        template["spec"].pop("serviceAccountName")
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"generateName": "check-", "labels": template["metadata"]["labels"]},
            "spec": template["spec"],
        }
        cluster.request("POST", path, pod)
        weakened = json.loads(json.dumps(pod))
        weakened["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
        with pytest.raises(KubeError) as refused:
            cluster.request("POST", path, weakened)
        assert refused.value.status == 403 and "PodSecurity" in str(refused.value.body)


def test_install_admits_the_release_and_creates_its_pods(
    cluster: KubeHandle, installed: tuple[str, str]
) -> None:
    namespace, release = installed
    labels = cluster.request("GET", f"/api/v1/namespaces/{namespace}")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    selector = f"app.kubernetes.io/instance={release}"
    deployments = cluster.request(
        "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments?labelSelector={selector}"
    )["items"]
    assert {d["metadata"]["name"] for d in deployments} == {
        name_of(c, release) for c in (*SERVERS, "scarlet", "jamie")
    }
    pods = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")[
        "items"
    ]
    want = sum(d["spec"]["replicas"] for d in deployments)
    assert len(pods) == want
    for pod in pods:
        # kwok's fake node runs what the scheduler binds to it.
        assert pod["spec"]["nodeName"] == FAKE_NODE
        assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    for deployment in deployments:
        status = deployment["status"]
        assert status.get("availableReplicas") == deployment["spec"]["replicas"]
