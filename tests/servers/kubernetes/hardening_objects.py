"""Objects the hardening tests probe: secrets in env and annotations, custom resources that
try to shadow built-in kinds, created in their own namespace and removed afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autodevops.servers.kubernetes.client import KubeBackend
from autodevops.servers.kubernetes.server import SPEC
from tests.kube_helpers import READ, wait_for
from tests.mcp_helpers import server_session

NS = "kt-h"
WRITE_VERBS = ["get", "list", "patch", "create", "delete"]

POLICY: dict[str, Any] = {
    "server": "kubernetes",
    "roles": {
        "reader": {"tools": READ, "scope": {"cluster_scoped": True}},
        "values": {
            "tools": ["get_resource"],
            "redact": False,
            "scope": {"kinds": {"allow": ["*"]}, "secret_values": True},
        },
        "writer": {
            "tools": ["*"],
            "scope": {"namespaces": {"allow": [NS]}, "verbs": WRITE_VERBS},
        },
        "binder": {
            "tools": ["apply_manifest"],
            "scope": {
                "namespaces": {"allow": [NS]},
                "verbs": WRITE_VERBS,
                "bindable_roles": ["view"],
            },
        },
        "mounter": {
            "tools": ["apply_manifest"],
            "scope": {"namespaces": {"allow": [NS]}, "verbs": WRITE_VERBS, "secret_mounts": True},
        },
        "secret-reader": {
            "tools": ["apply_manifest"],
            "scope": {
                "namespaces": {"allow": [NS]},
                "kinds": {"allow": ["*"]},
                "verbs": WRITE_VERBS,
                "secret_values": True,
            },
        },
        **{
            f"deny-{n}": {
                "tools": ["get_resource", "list_resources"],
                "scope": {"kinds": {"allow": ["*"], "deny": [pattern]}},
            }
            for n, pattern in enumerate(["secrets", "SECRET", "core/secrets", "deploy"])
        },
    },
}

OBJECTS = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: {NS}}}
stringData: {{password: in-the-secret}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: envy
  namespace: {NS}
  annotations:
    example.com/settings: '{{"password": "in-annotation", "mode": "fast"}}'
spec:
  replicas: 1
  selector: {{matchLabels: {{app: envy}}}}
  template:
    metadata: {{labels: {{app: envy}}}}
    spec:
      nodeSelector: {{type: kwok}}
      containers:
      - name: app
        image: "envy:1"
        env:
        - {{name: DB_PASSWORD, value: pa55-in-env}}
        - {{name: STRIPE_KEY, value: sk-live-in-env}}
        - {{name: SERVICE_TOKEN, value: tok-in-env}}
        - {{name: MODE, value: fast-mode}}
        - name: FROM_SECRET
          valueFrom: {{secretKeyRef: {{name: db, key: password}}}}
"""


def _crd(group: str, kind: str, plural: str, extra: str = "", short: str = "[]") -> str:
    return f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.{group}}}
spec:
  group: {group}
  names: {{kind: {kind}, plural: {plural}, singular: {kind.lower()}, shortNames: {short}}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
{extra}"""


COLUMNS = """    additionalPrinterColumns:
    - {name: Owner, type: string, jsonPath: .spec.owner}
    - {name: Token, type: string, jsonPath: .spec.token}
"""
CRDS = "---".join(
    [
        _crd("aaa-shadow.example.com", "Deployment", "deployments", short="[deploy]"),
        _crd("one.example.com", "Gadget", "gadgets", COLUMNS),
        _crd("two.example.com", "Gadget", "gadgets"),
    ]
)

GADGET = f"""
apiVersion: one.example.com/v1
kind: Gadget
metadata: {{name: g1, namespace: {NS}}}
spec: {{owner: team-h, token: tok-in-column}}
"""


def create(kube: Any) -> None:
    kube.kubectl("apply", "-f", "-", input=OBJECTS)
    kube.kubectl("apply", "-f", "-", input=CRDS)
    for group in ("aaa-shadow.example.com", "one.example.com", "two.example.com"):
        wait_for(lambda g=group: _served(kube, f"/apis/{g}/v1"), f"the {group} CRD")
    kube.kubectl("apply", "-f", "-", input=GADGET)
    wait_for(lambda: _pods(kube) == 1, "the envy pod")


def remove(kube: Any) -> None:
    """Gone before the next module creates them again (a terminating namespace refuses new
    objects)."""
    kube.kubectl("delete", "-f", "-", "--timeout=120s", input=CRDS, check=False)
    kube.kubectl("delete", "namespace", NS, "--timeout=120s", check=False)


def _pods(kube: Any) -> int:
    pods = kube.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3Denvy")
    return len(pods["items"])


def _served(kube: Any, path: str) -> bool:
    try:
        kube.request("GET", path)
    except Exception:
        return False
    return True


def session(kube: Any, role: str, tmp_path: Path) -> Any:
    """An MCP session with the Kubernetes server as `role` of this module's policy."""
    return server_session(SPEC, KubeBackend(str(kube.kubeconfig)), POLICY, role, tmp_path)
