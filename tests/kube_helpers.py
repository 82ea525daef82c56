"""Objects the Kubernetes server tests read and change, created for real on the local cluster."""

from __future__ import annotations

import time
from typing import Any

from autodevops.servers.kubernetes.tools import READ_TOOLS

READ = [t.name for t in READ_TOOLS]

POLICY: dict[str, Any] = {
    "server": "kubernetes",
    "roles": {
        "reader": {"tools": READ, "scope": {"cluster_scoped": True}},
        "team-a": {
            "tools": ["*"],
            "scope": {
                "namespaces": {"allow": ["kt-a"]},
                "verbs": ["get", "list", "patch", "create", "delete"],
            },
        },
        "secret-keys": {
            "tools": ["get_resource", "list_resources"],
            "scope": {"kinds": {"allow": ["*"]}, "namespaces": {"allow": ["kt-a"]}},
        },
        "secret-values": {
            "tools": ["get_resource"],
            "redact": False,
            "scope": {"kinds": {"allow": ["Secret"]}, "secret_values": True},
        },
        "two-teams": {
            "tools": ["list_resources"],
            "scope": {"namespaces": {"allow": ["kt-a", "kt-b"]}},
        },
        "node-admin": {
            "tools": ["cordon", "nodes_overview"],
            "scope": {
                "kinds": {"allow": ["Node"]},
                "verbs": ["list", "patch"],
                "cluster_scoped": True,
            },
        },
        "not-kube-system": {
            "tools": ["list_resources", "get_resource"],
            "scope": {"namespaces": {"allow": ["*"], "deny": ["kube-system"]}},
        },
    },
}

OBJECTS = """
apiVersion: v1
kind: Namespace
metadata: {name: kt-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: kt-b}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: kt-a, labels: {app: web, tier: front}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {type: kwok}
      containers: [{name: nginx, image: "nginx:1.25"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: kt-b, labels: {app: api}}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      nodeSelector: {type: kwok}
      containers: [{name: api, image: "api:1"}]
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: kt-a}
stringData: {password: hunter2, username: admin}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: kt-a}
data: {settings: "mode=fast password=s3cr3t-value"}
---
apiVersion: v1
kind: Node
metadata: {name: ghost-node, labels: {type: ghost}}
spec:
  # Nothing but the test's own pod may land here: the scheduler must never pick this node.
  taints: [{key: autodevops.test/ghost, effect: NoSchedule}]
---
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: kt-a, labels: {app: crasher}}
spec:
  nodeName: ghost-node
  tolerations: [{operator: Exists}]
  containers: [{name: app, image: "crasher:2"}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wdg]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties: {size: {type: integer}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
"""

WIDGET = """
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: kt-a}
spec: {size: 7}
"""

CRASH_STATUS = {
    "status": {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "app",
                "image": "crasher:2",
                "imageID": "",
                "ready": False,
                "restartCount": 5,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
            }
        ],
    }
}

BACKOFF_EVENT = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "crasher.backoff", "namespace": "kt-a"},
    "involvedObject": {"kind": "Pod", "name": "crasher", "namespace": "kt-a"},
    "type": "Warning",
    "reason": "BackOff",
    "message": "Back-off restarting failed container app",
    "count": 12,
    "firstTimestamp": "2026-01-01T00:00:00Z",
    "lastTimestamp": "2026-01-01T00:10:00Z",
    "source": {"component": "kubelet"},
}


def create_objects(kube: Any) -> None:
    """Seeds the session's cluster once: modules that share it find the objects (and the
    deployments' revision history) as the first seeding left them."""
    if _served(kube, "/api/v1/namespaces/kt-a/events/crasher.backoff"):
        return
    kube.kubectl("apply", "-f", "-", input=OBJECTS)
    wait_for(lambda: _served(kube, "/apis/example.com/v1"), "the Widget CRD to be served")
    kube.kubectl("apply", "-f", "-", input=WIDGET)
    kube.request(
        "PATCH",
        "/api/v1/namespaces/kt-a/pods/crasher/status",
        CRASH_STATUS,
        content_type="application/merge-patch+json",
    )
    kube.request("POST", "/api/v1/namespaces/kt-a/events", BACKOFF_EVENT)
    kube.kubectl("-n", "kt-a", "set", "image", "deployment/web", "nginx=nginx:1.26")
    wait_for(lambda: _rolled_out(kube, "kt-a", "web", 2), "deployment web to roll out")
    wait_for(lambda: _rolled_out(kube, "kt-b", "api", 1), "deployment api to roll out")


def _served(kube: Any, path: str) -> bool:
    try:
        kube.request("GET", path)
    except Exception:
        return False
    return True


def _rolled_out(kube: Any, namespace: str, name: str, replicas: int) -> bool:
    status = kube.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
    observed = status["status"].get("observedGeneration") == status["metadata"]["generation"]
    return bool(
        observed
        and status["status"].get("updatedReplicas") == replicas
        and status["status"].get("availableReplicas") == replicas
        and status["status"].get("replicas") == replicas
    )


def wait_for(condition: Any, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")
