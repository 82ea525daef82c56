"""In-scope writes that would hand a caller more than its role are refused by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.mcp_helpers import call_text
from tests.servers.kubernetes.hardening_objects import NS, session


@pytest.fixture(scope="module")
def cluster(hardened: Any) -> Any:
    return hardened


async def apply(cluster: Any, tmp_path: Path, role: str, manifest: str) -> tuple[str, bool]:
    async with session(cluster, role, tmp_path) as (client, _):
        return await call_text(client, "apply_manifest", {"manifest": manifest, "dry_run": True})


def binding(role: str, kind: str = "ClusterRole") -> str:
    return f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: grab, namespace: {NS}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {kind}, name: {role}}}
subjects: [{{kind: ServiceAccount, name: default, namespace: {NS}}}]
"""


POD_WITH_VOLUME = f"""
apiVersion: v1
kind: Pod
metadata: {{name: peek, namespace: {NS}}}
spec:
  containers: [{{name: c, image: busybox}}]
  volumes: [{{name: creds, secret: {{secretName: db}}}}]
"""
DEPLOYMENT_WITH_ENV_FROM = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: peek, namespace: {NS}}}
spec:
  selector: {{matchLabels: {{app: peek}}}}
  template:
    metadata: {{labels: {{app: peek}}}}
    spec:
      containers: [{{name: c, image: busybox, envFrom: [{{secretRef: {{name: db}}}}]}}]
"""
CRONJOB_WITH_KEY_REF = f"""
apiVersion: batch/v1
kind: CronJob
metadata: {{name: peek, namespace: {NS}}}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          initContainers:
          - name: i
            image: busybox
            env: [{{name: X, valueFrom: {{secretKeyRef: {{name: db, key: password}}}}}}]
          containers: [{{name: c, image: busybox}}]
"""
PROJECTED = POD_WITH_VOLUME.replace(
    "{name: creds, secret: {secretName: db}}",
    "{name: creds, projected: {sources: [{configMap: {name: x}}, {secret: {name: db}}]}}",
)


@pytest.mark.parametrize("role", ["cluster-admin", "admin", "edit", "view"])
async def test_a_binding_to_any_role_is_refused_by_default(
    cluster: Any, tmp_path: Path, role: str
) -> None:
    text, error = await apply(cluster, tmp_path, "writer", binding(role))
    assert error and f"roleRef.name '{role}' would hand that role's permissions" in text, text
    assert "your role may bind only: none" in text


async def test_bindable_roles_allow_exactly_the_roles_named(cluster: Any, tmp_path: Path) -> None:
    text, error = await apply(cluster, tmp_path, "binder", binding("view"))
    assert not error and text.endswith(f"RoleBinding {NS}/grab applied"), text
    text, error = await apply(cluster, tmp_path, "binder", binding("cluster-admin"))
    assert error and "may bind only: view" in text, text


@pytest.mark.parametrize(
    ("manifest", "field"),
    [
        (POD_WITH_VOLUME, "Pod: spec.volumes[0].secret uses Secret 'db'"),
        (PROJECTED, "Pod: spec.volumes[0].projected.sources[1].secret uses Secret 'db'"),
        (
            DEPLOYMENT_WITH_ENV_FROM,
            "Deployment: spec.template.spec.containers[0].envFrom[0].secretRef uses Secret 'db'",
        ),
        (
            CRONJOB_WITH_KEY_REF,
            "CronJob: spec.jobTemplate.spec.template.spec.initContainers[0].env[0]."
            "valueFrom.secretKeyRef uses Secret 'db'",
        ),
    ],
)
async def test_pods_using_a_secret_the_role_may_not_read_are_refused(
    cluster: Any, tmp_path: Path, manifest: str, field: str
) -> None:
    text, error = await apply(cluster, tmp_path, "writer", manifest)
    assert error and text.startswith(field) and "`secret_mounts: true`" in text, text


@pytest.mark.parametrize("role", ["mounter", "secret-reader"])
async def test_secret_mounts_or_reading_secrets_allow_them(
    cluster: Any, tmp_path: Path, role: str
) -> None:
    text, error = await apply(cluster, tmp_path, role, DEPLOYMENT_WITH_ENV_FROM)
    assert not error and text.endswith(f"Deployment {NS}/peek applied"), text
