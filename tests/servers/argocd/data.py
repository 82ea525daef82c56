"""Applications as Argo CD writes them (spec and a realistic status), the same for the
Kubernetes API (core mode) and the fake API server; plus what only the API server gives:
managed resources with live and desired state, the resource tree and events."""

from __future__ import annotations

import json
from typing import Any

from autodevops.servers.argocd.tools import READ_TOOLS

READ = [t.name for t in READ_TOOLS]
REPO = "https://git.example.com/platform/deploy.git"
SHAS = [(s * 4)[:40] for s in ("a1b2c3d4e5", "b2c3d4e5f6", "c3d4e5f6a7")]

POLICY: dict[str, Any] = {
    "server": "argocd",
    "roles": {
        "viewer": {"tools": READ},
        "team-a": {
            "tools": ["*"],
            "scope": {
                "projects": {"allow": ["team-a"]},
                "applications": {"allow": ["team-a-*"]},
                "destinations": {"allow": ["team-a", "team-a-*"]},
            },
        },
        "reads-only": {
            "tools": READ,
            "scope": {"projects": {"allow": ["team-a"]}, "applications": {"allow": ["team-a-*"]}},
        },
    },
}


def application(
    name: str,
    project: str,
    destination: str,
    *,
    sync: str = "Synced",
    health: str = "Healthy",
    auto: bool = False,
    resources: list[dict[str, Any]] | None = None,
    operation: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    namespace: str = "argocd",
) -> dict[str, Any]:
    history = [
        {
            "id": i,
            "revision": sha,
            "deployedAt": f"2026-11-2{i}T10:00:00Z",
            "deployStartedAt": f"2026-11-2{i}T09:59:50Z",
            "source": {"repoURL": REPO, "path": f"apps/{name}", "targetRevision": "main"},
            "initiatedBy": {"username": "alice"} if i == 1 else {"automated": True},
        }
        for i, sha in enumerate(SHAS)
    ]
    spec: dict[str, Any] = {
        "project": project,
        "source": {"repoURL": REPO, "path": f"apps/{name}", "targetRevision": "main"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": destination},
    }
    if auto:
        spec["syncPolicy"] = {"automated": {"prune": False, "selfHeal": True}}
    status: dict[str, Any] = {
        "sync": {
            "status": sync,
            "revision": SHAS[-1],
            "comparedTo": {"source": spec["source"], "destination": spec["destination"]},
        },
        "health": {"status": health},
        "history": history,
        "reconciledAt": "2026-11-30T10:00:00Z",
        "sourceType": "Directory",
        "summary": {"images": ["nginx:1.27"]},
        "resources": resources
        if resources is not None
        else [
            {
                "version": "v1",
                "kind": "Service",
                "namespace": destination,
                "name": name,
                "status": "Synced",
                "health": {"status": "Healthy"},
            }
        ],
        "operationState": operation
        or {
            "operation": {"sync": {"revision": SHAS[-1]}, "initiatedBy": {"automated": True}},
            "phase": "Succeeded",
            "message": "successfully synced (all tasks run)",
            "startedAt": "2026-11-29T10:00:00Z",
            "finishedAt": "2026-11-29T10:00:05Z",
            "syncResult": {"revision": SHAS[-1], "resources": []},
        },
    }
    if conditions:
        status["conditions"] = conditions
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels or {"team": project},
            # Written status stays as written: a running Argo CD controller leaves it alone.
            "annotations": {"argocd.argoproj.io/skip-reconcile": "true"},
        },
        "spec": spec,
        "status": status,
    }


def _resource(kind: str, name: str, sync: str, health: str | None = None, **extra: Any) -> Any:
    group = {"Deployment": "apps", "ReplicaSet": "apps"}.get(kind, "")
    out: dict[str, Any] = {
        "group": group,
        "version": "v1",
        "kind": kind,
        "namespace": "team-a",
        "name": name,
        "status": sync,
        **extra,
    }
    if health:
        out["health"] = {
            "status": health,
            **({"message": extra.pop("message")} if "message" in extra else {}),
        }
    out.pop("message", None)
    return out


API_RESOURCES = [
    _resource(
        "Deployment",
        "api",
        "OutOfSync",
        "Degraded",
        message='Deployment "api" exceeded its progress deadline',
    ),
    _resource("Service", "api", "Synced", "Healthy"),
    _resource("ConfigMap", "api-config", "OutOfSync"),
    _resource("Secret", "api-creds", "OutOfSync"),
    _resource("ConfigMap", "old-config", "OutOfSync", requiresPruning=True),
]
FAILED_SYNC = {
    "operation": {"sync": {"revision": SHAS[-1]}, "initiatedBy": {"username": "bob"}},
    "phase": "Failed",
    "message": 'one or more objects failed to apply, reason: Deployment.apps "api" is invalid',
    "startedAt": "2026-11-30T09:00:00Z",
    "finishedAt": "2026-11-30T09:00:07Z",
    "syncResult": {
        "revision": SHAS[-1],
        "resources": [
            {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "namespace": "team-a",
                "name": "api",
                "status": "SyncFailed",
                "message": "spec.template.spec.containers[0].image: Required value",
                "syncPhase": "Sync",
            }
        ],
    },
}
RUNNING = {
    "operation": {"sync": {"revision": SHAS[-1]}, "initiatedBy": {"username": "carol"}},
    "phase": "Running",
    "message": "waiting for healthy state of apps/Deployment/busy",
    "startedAt": "2026-11-30T09:30:00Z",
}


def applications() -> list[dict[str, Any]]:
    """Two in team-a's scope that matter, and three just outside it, one reason each."""
    return [
        application("team-a-web", "team-a", "team-a"),
        application(
            "team-a-api",
            "team-a",
            "team-a",
            sync="OutOfSync",
            health="Degraded",
            resources=API_RESOURCES,
            operation=FAILED_SYNC,
            conditions=[
                {
                    "type": "SyncError",
                    "message": "Failed sync attempt: one or more objects failed to apply",
                    "lastTransitionTime": "2026-11-30T09:00:07Z",
                }
            ],
        ),
        application("team-a-auto", "team-a", "team-a-jobs", auto=True),
        application("team-a-busy", "team-a", "team-a", operation=RUNNING),
        application("team-a-moved", "team-a", "kube-system"),
        application("team-b-web", "team-b", "team-b"),
        application("platform-dns", "team-a", "team-a"),
    ]


def _state(obj: dict[str, Any] | None) -> str:
    return json.dumps(obj) if obj is not None else "null"


def _deployment(image: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "api",
            "namespace": "team-a",
            "resourceVersion": "1234",
            "uid": "0b6f",
            "managedFields": [{"manager": "argocd-controller"}],
        },
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "api", "image": image}]}},
        },
        "status": {"replicas": replicas},
    }


def _secret(value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "api-creds", "namespace": "team-a"},
        "data": {"password": value, "user": "YXBp"},
    }


def _config(level: str, name: str = "api-config") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "team-a"},
        "data": {"LOG_LEVEL": level},
    }


def _diff(kind: str, name: str, live: Any, desired: Any, group: str = "") -> dict[str, Any]:
    return {
        "group": group,
        "kind": kind,
        "namespace": "team-a",
        "name": name,
        "liveState": _state(live),
        "targetState": _state(desired),
        "normalizedLiveState": _state(live),
        "predictedLiveState": _state(desired),
        "modified": live != desired,
        "hook": False,
    }


MANAGED = [
    _diff(
        "Deployment",
        "api",
        _deployment("registry.example.com/api:1.4.1"),
        _deployment("registry.example.com/api:1.5.0", 3),
        "apps",
    ),
    _diff(
        "Service",
        "api",
        {"kind": "Service", "spec": {"ports": [{"port": 80}]}},
        {"kind": "Service", "spec": {"ports": [{"port": 80}]}},
    ),
    _diff("ConfigMap", "api-config", _config("info"), _config("debug")),
    _diff("Secret", "api-creds", _secret("b2xkLXMzY3IzdA=="), _secret("bmV3LXMzY3IzdA==")),
    _diff("ConfigMap", "old-config", _config("info", "old-config"), None),
]
TREE: list[dict[str, Any]] = [
    {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
        "namespace": "team-a",
        "name": "api",
        "uid": "d1",
        "health": {
            "status": "Degraded",
            "message": 'Deployment "api" exceeded its progress deadline',
        },
    },
    {
        "group": "apps",
        "version": "v1",
        "kind": "ReplicaSet",
        "namespace": "team-a",
        "name": "api-7d9f",
        "uid": "r1",
        "parentRefs": [
            {
                "group": "apps",
                "kind": "Deployment",
                "namespace": "team-a",
                "name": "api",
                "uid": "d1",
            }
        ],
        "health": {"status": "Progressing", "message": "Waiting for rollout"},
    },
    {
        "version": "v1",
        "kind": "Pod",
        "namespace": "team-a",
        "name": "api-7d9f-x2x",
        "uid": "p1",
        "parentRefs": [
            {
                "group": "apps",
                "kind": "ReplicaSet",
                "namespace": "team-a",
                "name": "api-7d9f",
                "uid": "r1",
            }
        ],
        "health": {
            "status": "Degraded",
            "message": "back-off 5m0s restarting failed container=api",
        },
        "info": [{"name": "Status Reason", "value": "CrashLoopBackOff"}],
    },
    {
        "version": "v1",
        "kind": "Service",
        "namespace": "team-a",
        "name": "api",
        "uid": "s1",
        "health": {"status": "Healthy"},
    },
    {
        "version": "v1",
        "kind": "ConfigMap",
        "namespace": "team-a",
        "name": "api-config",
        "uid": "c1",
    },
]


def event(name: str, reason: str, message: str, when: str, kind: str = "Normal") -> dict[str, Any]:
    return {
        "metadata": {"name": f"{name}.{reason.lower()}", "namespace": "argocd"},
        "involvedObject": {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "name": name,
            "namespace": "argocd",
        },
        "reason": reason,
        "message": message,
        "type": kind,
        "count": 1,
        "firstTimestamp": when,
        "lastTimestamp": when,
        "source": {"component": "argocd-application-controller"},
    }


EVENTS = [
    event(
        "team-a-api",
        "OperationStarted",
        "Initiated automated sync to 'c3d4e5f6'",
        "2026-11-30T09:00:00Z",
    ),
    event(
        "team-a-api",
        "OperationCompleted",
        "Sync operation to c3d4e5f6 failed: one or more objects failed to apply",
        "2026-11-30T09:00:07Z",
        "Warning",
    ),
    event(
        "team-a-api",
        "ResourceUpdated",
        "Updated health status: Progressing -> Degraded",
        "2026-11-30T09:05:00Z",
    ),
]


def many(n: int) -> list[dict[str, Any]]:
    """n realistic applications across 10 projects, for the bench and pagination."""
    out = []
    for i in range(n):
        team = f"team-{i % 10}"
        app = application(
            f"{team}-svc-{i:04d}",
            team,
            team,
            sync="OutOfSync" if i % 7 == 0 else "Synced",
            health="Degraded" if i % 13 == 0 else "Healthy",
            resources=[
                _resource(kind, f"svc-{i:04d}-{kind.lower()}", "Synced", "Healthy")
                for kind in (
                    "Deployment",
                    "Service",
                    "ConfigMap",
                    "ServiceAccount",
                    "HorizontalPodAutoscaler",
                )
            ],
        )
        app["metadata"]["annotations"] = {
            "notifications.argoproj.io/subscribe.on-sync-failed.slack": "team-alerts"
        }
        out.append(app)
    return out
