"""Incident scenarios: one namespace each, one known cause each, plus healthy decoys.

Objects are created on the local control plane; where no kubelet runs (the node `scn-node`,
which kwok does not manage) the statuses a kubelet would write are written through the status
subresources, and the events it would record are created. What the scheduler, the ReplicaSet
controller and the quota controller do (Unschedulable, FailedCreate, quota usage) is their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NODE = "scn-node"
RESERVED = "scn-reserved"
ON_NODE = {"nodeName": NODE, "tolerations": [{"operator": "Exists"}]}
ON_KWOK = {"nodeSelector": {"type": "kwok"}}


@dataclass
class Case:
    """`trigger`: an alert's labels (sent as an Alertmanager webhook) or a question (a manual
    run). `{pod}` in a label is the first pod of the namespace. A decoy expects no finding."""

    namespace: str
    objects: list[dict[str, Any]]
    trigger: dict[str, str] | str
    analyzer: str = ""
    subject: str = ""
    cause: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    restart: bool = False
    pod_status: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    job_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    cron_status: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def decoy(self) -> bool:
        return not self.analyzer


def deployment(name: str, pod: dict[str, Any], replicas: int = 1, **spec: Any) -> dict[str, Any]:
    container = {"name": "app", "image": f"{name}:1", **pod.pop("container", {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], **pod},
            },
            **spec,
        },
    }


def job(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            # No pod is ever created for it: its failure is written as the controller would.
            "parallelism": 0,
            "backoffLimit": 3,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "task", "image": f"{name}:1"}],
                }
            },
            **spec,
        },
    }


def failed_pod(name: str, job_name: str, exit_code: int, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"job-name": job_name, "batch.kubernetes.io/job-name": job_name},
        },
        "spec": {"restartPolicy": "Never", "containers": [{"name": "task", "image": "t:1"}]}
        | ON_NODE,
        "_status": {
            "phase": "Failed",
            "containerStatuses": [
                {
                    "name": "task",
                    "image": "t:1",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {
                            "exitCode": exit_code,
                            "reason": "Error",
                            "message": message,
                        }
                    },
                }
            ],
        },
    }


def failed_job(reason: str, message: str) -> dict[str, Any]:
    now = "2026-11-30T03:00:00Z"
    conditions = [
        {"type": kind, "status": "True", "reason": reason, "message": message}
        | {"lastProbeTime": now, "lastTransitionTime": now}
        for kind in ("FailureTarget", "Failed")
    ]
    return {"status": {"conditions": conditions, "failed": 4}}


def crashing(message: str) -> dict[str, Any]:
    return {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "app",
                "image": "app:1",
                "imageID": "",
                "ready": False,
                "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": 1, "message": message}},
            }
        ],
    }


def event(kind: str, name: str, reason: str, message: str) -> dict[str, Any]:
    """`name` may be `{pod}`: the first pod of the namespace."""
    return {"kind": kind, "name": name, "reason": reason, "message": message}


CASES = [
    Case(
        "scn-key",
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "api-config"},
                "data": {"LOG_LEVEL": "info"},
            },
            deployment(
                "api",
                {
                    **ON_NODE,
                    "container": {
                        "env": [
                            {
                                "name": "DATABASE_URL",
                                "valueFrom": {
                                    "configMapKeyRef": {"name": "api-config", "key": "DATABASE_URL"}
                                },
                            }
                        ]
                    },
                },
            ),
        ],
        {"alertname": "KubeDeploymentReplicasMismatch", "deployment": "api"},
        "missing_config",
        "Deployment scn-key/api",
        cause=("key DATABASE_URL in ConfigMap scn-key/api-config",),
        evidence=('"keys": ["LOG_LEVEL"]', "CreateContainerConfigError"),
        pod_status={
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "app",
                    "image": "api:1",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "waiting": {
                            "reason": "CreateContainerConfigError",
                            "message": "couldn't find key DATABASE_URL in ConfigMap "
                            "scn-key/api-config",
                        }
                    },
                }
            ],
        },
    ),
    Case(
        "scn-quota",
        [
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": "compute"},
                "spec": {"hard": {"pods": "1"}},
            },
            deployment("worker", dict(ON_KWOK), replicas=3),
        ],
        {"alertname": "KubeDeploymentReplicasMismatch", "deployment": "worker"},
        "rollout",
        "Deployment scn-quota/worker",
        cause=("ResourceQuota scn-quota/compute refuses its pods", "pods used 1 of 1"),
        evidence=("exceeded quota: compute", '"hard": {"pods": "1"}'),
    ),
    Case(
        "scn-ready",
        [deployment("web", dict(ON_NODE))],
        "Why is deployment web in namespace scn-ready not available?",
        "readiness",
        "Deployment scn-ready/web",
        cause=("Readiness probe failed: HTTP probe failed with statuscode: 503",),
        evidence=('"reason": "Unhealthy"', '"ready": false'),
        pod_status={
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "ContainersReady", "status": "False"},
            ],
            "containerStatuses": [
                {
                    "name": "app",
                    "image": "web:1",
                    "imageID": "",
                    "ready": False,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": "2026-11-30T03:00:00Z"}},
                }
            ],
        },
        events=[
            event(
                "Pod",
                "{pod}",
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
            )
        ],
    ),
    Case(
        "scn-pvc",
        [
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "fast-ssd",
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
            deployment(
                "db",
                {
                    **ON_KWOK,
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
                },
            ),
        ],
        {"alertname": "KubePodNotReady", "pod": "{pod}"},
        "pending",
        "Deployment scn-pvc/db",
        cause=("PVC scn-pvc/data asks for StorageClass fast-ssd, which does not exist",),
        evidence=('"storageClassName": "fast-ssd"', "StorageClasses: "),
    ),
    Case(
        "scn-selector",
        [deployment("gpu", {"nodeSelector": {"accelerator": "nvidia-h100"}})],
        {"alertname": "KubeDeploymentReplicasMismatch", "deployment": "gpu"},
        "pending",
        "Deployment scn-selector/gpu",
        cause=("nodeSelector accelerator=nvidia-h100: no node has this label",),
        evidence=('"nodeSelector": {"accelerator": "nvidia-h100"}', "nodes: "),
    ),
    Case(
        "scn-taint",
        [deployment("etl", {"nodeSelector": {"pool": RESERVED}})],
        {"alertname": "KubeDeploymentReplicasMismatch", "deployment": "etl"},
        "pending",
        "Deployment scn-taint/etl",
        cause=("taint it does not tolerate", f"node {RESERVED}: dedicated=batch:NoSchedule"),
        evidence=('"nodeSelector": {"pool": "scn-reserved"}', "dedicated=batch:NoSchedule"),
    ),
    Case(
        "scn-job",
        [
            job("migrate"),
            failed_pod("migrate-x7k2p", "migrate", 2, 'ERROR: relation "users" does not exist'),
        ],
        {"alertname": "KubeJobFailed", "job_name": "migrate", "job": "kube-state-metrics"},
        "job",
        "Job scn-job/migrate",
        cause=("BackoffLimitExceeded", "exited 2", 'relation "users" does not exist'),
        evidence=('"reason": "BackoffLimitExceeded"', '"exitCode": 2'),
        job_status={
            "migrate": failed_job(
                "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            )
        },
    ),
    Case(
        "scn-deadline",
        [job("report", activeDeadlineSeconds=60)],
        "Why did job report in namespace scn-deadline fail?",
        "job",
        "Job scn-deadline/report",
        cause=("ran past its activeDeadlineSeconds (60s)",),
        evidence=('"reason": "DeadlineExceeded"', '"activeDeadlineSeconds": 60'),
        job_status={
            "report": failed_job(
                "DeadlineExceeded", "Job was active longer than specified deadline"
            )
        },
    ),
    Case(
        "scn-cron-off",
        [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": {"name": "cleanup"},
                "spec": {
                    "schedule": "0 4 * * *",
                    "suspend": True,
                    "jobTemplate": {"spec": job("x")["spec"] | {"parallelism": 1}},
                },
            }
        ],
        "Why does cronjob cleanup in namespace scn-cron-off not run?",
        "cronjob",
        "CronJob scn-cron-off/cleanup",
        cause=("spec.suspend is true", "2026-11-01T04:00:00Z"),
        evidence=('"suspend": true', '"lastScheduleTime": "2026-11-01T04:00:00Z"'),
        cron_status={"cleanup": {"status": {"lastScheduleTime": "2026-11-01T04:00:00Z"}}},
    ),
    Case(
        "scn-cron-fail",
        [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": {"name": "backup"},
                "spec": {
                    "schedule": "0 3 1 1 *",
                    "jobTemplate": {"spec": job("x")["spec"] | {"parallelism": 1}},
                },
            },
            job("backup-29390000") | {"_owner": "backup"},
            failed_pod(
                "backup-29390000-q9x",
                "backup-29390000",
                1,
                "upload to s3://backups denied: AccessDenied",
            ),
        ],
        {"alertname": "KubeCronJobFailed", "cronjob": "backup"},
        "cronjob",
        "CronJob scn-cron-fail/backup",
        cause=("backup-29390000 failed", "AccessDenied"),
        evidence=('"reason": "BackoffLimitExceeded"', '"schedule": "0 3 1 1 *"'),
        job_status={
            "backup-29390000": failed_job(
                "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            )
        },
    ),
    Case(
        "scn-crash-config",
        [deployment("conf", dict(ON_NODE))],
        {"alertname": "KubePodCrashLooping", "pod": "{pod}", "container": "app"},
        "crashloop",
        "Deployment scn-crash-config/conf",
        cause=("configuration", "API_TOKEN is not set"),
        evidence=('"reason": "CrashLoopBackOff"', '"restartCount": 7'),
        pod_status=crashing("FATAL: environment variable API_TOKEN is not set"),
    ),
    Case(
        "scn-crash-dep",
        [deployment("cache-client", dict(ON_NODE))],
        {"alertname": "KubePodCrashLooping", "pod": "{pod}", "container": "app"},
        "crashloop",
        "Deployment scn-crash-dep/cache-client",
        cause=("dependency", "connection refused"),
        evidence=('"reason": "CrashLoopBackOff"',),
        restart=True,
        pod_status=crashing("dial tcp 10.96.0.10:6379: connect: connection refused"),
    ),
    # Decoys: healthy namespaces, asked about by a question and by a stale alert.
    Case(
        "scn-healthy-a",
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "shop-config"},
                "data": {"DATABASE_URL": "postgres://db/shop"},
            },
            deployment(
                "shop",
                {
                    **ON_KWOK,
                    "container": {
                        "env": [
                            {
                                "name": "DATABASE_URL",
                                "valueFrom": {
                                    "configMapKeyRef": {
                                        "name": "shop-config",
                                        "key": "DATABASE_URL",
                                    }
                                },
                            }
                        ]
                    },
                },
                replicas=2,
            ),
        ],
        "What is wrong in namespace scn-healthy-a?",
    ),
    Case(
        "scn-healthy-b",
        [
            deployment("steady", dict(ON_KWOK)),
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": {"name": "nightly"},
                "spec": {
                    "schedule": "0 2 1 1 *",
                    "jobTemplate": {"spec": job("x")["spec"] | {"parallelism": 1}},
                },
            },
        ],
        {"alertname": "KubeDeploymentReplicasMismatch", "deployment": "steady"},
    ),
]
NAMESPACES = [c.namespace for c in CASES]
