"""Scarlet's analyzers against the real local control plane and the real Prometheus, through
`autodevops serve kubernetes|prometheus --transport http` with a read-only policy.

Without a kubelet, container states are written through the pods' status subresource on a
node kwok does not manage, and Events are created the way the kubelet and scheduler would.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.clients.scarlet.analyzers import (
    AnalyzerScope,
    Finding,
    ProposedAction,
    run_analyzers,
)
from autodevops.servers.kubernetes.tools import READ_TOOLS
from devstack.services import McpServer, audit_lines, start_mcp_server
from tests.conftest import TEST_POLICY, TOKENS
from tests.kube_helpers import wait_for

NODE = "sc-an-node"
CRASH, PODS, ROLL, SVC = "sc-an-crash", "sc-an-pods", "sc-an-roll", "sc-an-svc"
NAMESPACES = [CRASH, PODS, ROLL, SVC]
READ = [t.name for t in READ_TOOLS]
SCARLET, NO_EVENTS = "scarlet-token-0123456789", "no-events-token-0123456789"
SMALL = "small-pages-token-0123456789"

KUBE_POLICY: dict[str, Any] = {
    "server": "kubernetes",
    "roles": {
        "scarlet": {
            "tools": READ,
            "scope": {
                "namespaces": {"allow": NAMESPACES},
                "kinds": {"allow": ["*"], "deny": ["Secret"]},
                "verbs": ["get", "list"],
                "cluster_scoped": True,
            },
        },
        "small-pages": {
            "tools": READ,
            "scope": {"namespaces": {"allow": NAMESPACES}, "verbs": ["get", "list"]},
            "limits": {"max_bytes": 6000},
        },
        "no-events": {
            "tools": READ,
            "scope": {
                "namespaces": {"allow": NAMESPACES},
                "kinds": {"allow": ["*"], "deny": ["Event"]},
                "verbs": ["get", "list"],
            },
        },
    },
}


def _pod(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": PODS, "labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": f"{name}:1"}], **spec},
    }


ON_NODE = {"nodeName": NODE, "tolerations": [{"operator": "Exists"}]}

OBJECTS: list[dict[str, Any]] = [
    *({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in NAMESPACES),
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "labels": {"type": "sc-an"}},
        "spec": {"taints": [{"key": "autodevops.test/sc-an", "effect": "NoSchedule"}]},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": CRASH},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "web:3"}], **ON_NODE},
            },
        },
    },
    _pod(
        "hungry",
        {
            "containers": [
                {"name": "app", "image": "hungry:1", "resources": {"limits": {"memory": "64Mi"}}}
            ],
            **ON_NODE,
        },
    ),
    _pod("puller", ON_NODE),
    _pod(
        "configless",
        {
            "containers": [
                {
                    "name": "app",
                    "image": "configless:1",
                    "envFrom": [{"configMapRef": {"name": "app-settings"}}],
                }
            ],
            **ON_NODE,
        },
    ),
    _pod(
        "mountless",
        {
            "volumes": [{"name": "cfg", "configMap": {"name": "mount-settings"}}],
            **ON_NODE,
        },
    ),
    _pod("nowhere", {"nodeSelector": {"type": "sc-an-none"}}),
    _pod("unseen", {"schedulerName": "sc-an-scheduler"}),
    _pod(
        "claimless",
        {
            "nodeSelector": {"type": "kwok"},
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-missing"}}],
        },
    ),
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": ROLL},
        "spec": {
            "replicas": 1,
            "progressDeadlineSeconds": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {
                    "nodeSelector": {"type": "kwok"},
                    "containers": [{"name": "api", "image": "api:1"}],
                },
            },
        },
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "served", "namespace": SVC},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "served"}},
            "template": {
                "metadata": {"labels": {"app": "served"}},
                "spec": {
                    "nodeSelector": {"type": "kwok"},
                    "containers": [{"name": "app", "image": "served:1"}],
                },
            },
        },
    },
    *(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": SVC},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
        }
        for name in ("served", "lonely")
    ),
    # kwok's pod IPs are loopback addresses, which EndpointSlices refuse: the slice of the
    # healthy Service is written here, as a controller other than Kubernetes' own would.
    {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "served-sc-an",
            "namespace": SVC,
            "labels": {
                "kubernetes.io/service-name": "served",
                "endpointslice.kubernetes.io/managed-by": "sc-an.autodevops.test",
            },
        },
        "addressType": "IPv4",
        "ports": [{"port": 80, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.16.0.2"], "conditions": {"ready": True}}],
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "outside", "namespace": SVC},
        "spec": {"type": "ExternalName", "externalName": "example.org"},
    },
]


def _container(image: str, **fields: Any) -> dict[str, Any]:
    return {"name": "app", "image": image, "imageID": "", "ready": False, **fields}


def _status(phase: str, container: dict[str, Any]) -> dict[str, Any]:
    return {"status": {"phase": phase, "containerStatuses": [container]}}


CRASHING = _status(
    "Running",
    _container(
        "web:3",
        restartCount=6,
        state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
        lastState={
            "terminated": {
                "reason": "Error",
                "exitCode": 1,
                "message": "dial tcp 10.96.0.7:5432: connect: connection refused",
            }
        },
    ),
)
STATUSES = {
    "hungry": _status(
        "Running",
        _container(
            "hungry:1",
            ready=True,
            restartCount=1,
            state={"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            lastState={"terminated": {"reason": "OOMKilled", "exitCode": 137}},
        ),
    ),
    "puller": _status(
        "Pending",
        _container(
            "puller:1",
            restartCount=0,
            state={
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": 'Back-off pulling image "puller:1": not found',
                }
            },
        ),
    ),
    "configless": _status(
        "Pending",
        _container(
            "configless:1",
            restartCount=0,
            state={
                "waiting": {
                    "reason": "CreateContainerConfigError",
                    "message": 'configmap "app-settings" not found',
                }
            },
        ),
    ),
}


def _event(pod: str, reason: str, message: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.{reason.lower()}", "namespace": PODS},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": PODS},
        "type": "Warning",
        "reason": reason,
        "message": message,
        "count": 3,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": "kubelet" if reason == "FailedMount" else "sc-an-scheduler"},
    }


def _deployment(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = kube.request(
        "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    )
    return body


def _pods(kube: Any, namespace: str, selector: str) -> list[dict[str, Any]]:
    path = f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}"
    items: list[dict[str, Any]] = kube.request("GET", path)["items"]
    return items


def _set_status(kube: Any, name: str, namespace: str, status: dict[str, Any]) -> None:
    kube.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/{name}/status",
        status,
        content_type="application/merge-patch+json",
    )


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    conditions = obj.get("status", {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), {})


def _ready_slice(kube: Any) -> bool:
    path = f"/apis/discovery.k8s.io/v1/namespaces/{SVC}/endpointslices"
    slices = kube.request("GET", path + "?labelSelector=kubernetes.io/service-name=served")
    return any(
        (e.get("conditions") or {}).get("ready")
        for s in slices["items"]
        for e in s.get("endpoints") or []
    )


@pytest.fixture(scope="module")
def cluster(kube: Any) -> Iterator[Any]:
    """The broken (and a few healthy) objects every test reads; removed at the end."""
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(OBJECTS))
    wait_for(lambda: len(_pods(kube, CRASH, "app=web")) == 2, "web's two pods")
    for pod in _pods(kube, CRASH, "app=web"):
        _set_status(kube, pod["metadata"]["name"], CRASH, CRASHING)
    for name, status in STATUSES.items():
        _set_status(kube, name, PODS, status)
    kube.request(
        "POST",
        f"/api/v1/namespaces/{PODS}/events",
        _event("unseen", "FailedScheduling", "0/2 nodes are available: 2 Insufficient cpu."),
    )
    kube.request(
        "POST",
        f"/api/v1/namespaces/{PODS}/events",
        _event(
            "mountless",
            "FailedMount",
            'MountVolume.SetUp failed for volume "cfg" : configmap "mount-settings" not found',
        ),
    )
    for name in ("nowhere", "claimless"):
        wait_for(partial(_unschedulable, kube, name), f"the scheduler to give up on pod {name}")
    wait_for(
        lambda: _deployment(kube, ROLL, "api")["status"].get("availableReplicas") == 1,
        "api's first revision",
    )
    # The second revision lands on the unmanaged node, never becomes ready and misses its
    # two-second progress deadline: the controller itself marks the rollout failed.
    kube.kubectl(
        "-n",
        ROLL,
        "patch",
        "deployment",
        "api",
        "-p",
        '{"spec": {"template": {"spec": {"nodeSelector": null, "nodeName": "sc-an-node", '
        '"tolerations": [{"operator": "Exists"}], '
        '"containers": [{"name": "api", "image": "api:2"}]}}}}',
    )
    wait_for(
        lambda: (
            _condition(_deployment(kube, ROLL, "api"), "Progressing").get("reason")
            == "ProgressDeadlineExceeded"
        ),
        "api's rollout to miss its deadline",
    )
    wait_for(lambda: _ready_slice(kube), "a ready endpoint for Service served")
    # Until kwok reports its pod running, `served` is a rollout with unavailable replicas.
    wait_for(
        lambda: _deployment(kube, SVC, "served")["status"].get("availableReplicas") == 1,
        "served's pod to be available",
    )
    yield kube
    for namespace in NAMESPACES:
        kube.kubectl("-n", namespace, "delete", "pods", "--all", "--force", "--grace-period=0")
    kube.kubectl("delete", "namespace", *NAMESPACES, "--wait=false")
    kube.kubectl("delete", "node", NODE)


def _unschedulable(kube: Any, name: str) -> bool:
    pod = kube.request("GET", f"/api/v1/namespaces/{PODS}/pods/{name}")
    return _condition(pod, "PodScheduled").get("status") == "False"


def _serve(
    server: str, workdir: Path, policy: dict[str, Any], tokens: list[dict[str, Any]], *extra: str
) -> Iterator[McpServer]:
    """`autodevops serve <server> --transport http`, as users run it; stopped afterwards."""
    started = start_mcp_server(workdir, server, policy, tokens, *extra)
    yield started
    started.process.terminate()
    try:
        started.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        started.process.kill()


@pytest.fixture(scope="module")
def kubernetes_server(
    cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[McpServer]:
    entries = [
        {"token": SCARLET, "subject": "scarlet", "roles": ["scarlet"]},
        {"token": NO_EVENTS, "subject": "scarlet-no-events", "roles": ["no-events"]},
        {"token": SMALL, "subject": "scarlet-small-pages", "roles": ["small-pages"]},
    ]
    workdir = tmp_path_factory.mktemp("scarlet-kubernetes")
    yield from _serve(
        "kubernetes", workdir, KUBE_POLICY, entries, "--kubeconfig", str(cluster.kubeconfig)
    )


@pytest.fixture(scope="module")
def prometheus_server(
    prometheus: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[McpServer]:
    yield from _serve(
        "prometheus",
        tmp_path_factory.mktemp("scarlet-prometheus"),
        dict(TEST_POLICY, stdio_role="viewer"),
        [{"token": TOKENS["viewer"], "subject": "scarlet", "roles": ["viewer"]}],
        "--prometheus-url",
        prometheus.url,
    )


def _pool(kubernetes: McpServer, prometheus: McpServer, token: str = SCARLET) -> McpPool:
    return McpPool(
        [
            HttpEndpoint("kubernetes", kubernetes.url, token),
            HttpEndpoint("prometheus", prometheus.url, TOKENS["viewer"]),
        ]
    )


@pytest.fixture
async def pool(
    kubernetes_server: McpServer, prometheus_server: McpServer
) -> AsyncIterator[McpPool]:
    async with _pool(kubernetes_server, prometheus_server) as pool:
        yield pool


async def analyze(
    pool: McpPool, *namespaces: str, alert: dict[str, Any] | None = None
) -> tuple[list[Finding], list[str]]:
    return await run_analyzers(pool, AnalyzerScope(list(namespaces) or None), alert)


def by_subject(findings: list[Finding], analyzer: str) -> dict[str, Finding]:
    return {f.subject: f for f in findings if f.analyzer == analyzer}


async def test_a_crash_loop_on_a_dependency_gets_evidence_and_a_restart_proposal(
    pool: McpPool, kubernetes_server: McpServer
) -> None:
    findings, notes = await analyze(pool, CRASH)
    assert notes == []
    crash = by_subject(findings, "crashloop")
    assert list(crash) == [f"Deployment {CRASH}/web"]
    finding = crash[f"Deployment {CRASH}/web"]
    assert finding.severity == "critical"
    assert finding.summary.startswith("2 pods (web-")
    assert finding.summary.endswith("crash-looping, container app restarted 6 times")
    assert finding.likely_cause == (
        "the container exits when a dependency fails (exit code 1 (Error)): "
        "'dial tcp 10.96.0.7:5432: connect: connection refused'"
    )
    assert len(finding.evidence) == 2
    for evidence in finding.evidence:
        assert evidence.tool == "kubernetes__list_resources"
        assert evidence.arguments["kind"] == "pods" and evidence.arguments["namespace"] == CRASH
        assert evidence.excerpt.startswith(f"{CRASH}/web-")
        assert '"reason": "CrashLoopBackOff"' in evidence.excerpt
        assert '"restartCount": 6' in evidence.excerpt
    assert finding.proposed_actions == [
        ProposedAction(
            "kubernetes__rollout_restart",
            {"kind": "Deployment", "name": "web", "namespace": CRASH},
            f"restart Deployment {CRASH}/web once its dependency answers again, to skip the "
            "crash-loop back-off",
        )
    ]
    assert not by_subject(findings, "rollout"), "the crash loop already names the Deployment"
    assert findings[0].analyzer == "crashloop", "most severe first"
    calls = [
        (line["tool"], line["arguments"], line["decision"])
        for line in audit_lines(kubernetes_server.audit_log)
        if line["subject"] == "scarlet"
    ]
    pods = {"kind": "pods", "output": "json", "namespace": CRASH, "limit": 200}
    assert ("list_resources", pods, "allow") in calls, "audited under Scarlet's own identity"
    assert all(tool in READ for tool, _, _ in calls), "analyzers only read"


async def test_pod_level_failures_each_get_their_finding(pool: McpPool) -> None:
    findings, notes = await analyze(pool, PODS)
    assert notes == []
    oom = by_subject(findings, "oom")[f"Pod {PODS}/hungry"]
    assert oom.severity == "warning"
    assert oom.summary == "1 pod (hungry): container app was OOMKilled"
    assert "memory limit 64Mi" in oom.likely_cause
    assert '"exitCode": 137, "reason": "OOMKilled"' in oom.evidence[0].excerpt

    pull = by_subject(findings, "image_pull")[f"Pod {PODS}/puller"]
    assert pull.summary == "1 pod (puller) cannot pull image puller:1"
    assert pull.likely_cause.startswith('Back-off pulling image "puller:1": not found')
    assert '"reason": "ImagePullBackOff"' in pull.evidence[0].excerpt

    missing = by_subject(findings, "missing_config")
    assert set(missing) == {f"Pod {PODS}/configless", f"Pod {PODS}/mountless"}
    configless = missing[f"Pod {PODS}/configless"]
    assert configless.summary == (
        f"pod configless cannot start: ConfigMap {PODS}/app-settings missing"
    )
    assert '"reason": "CreateContainerConfigError"' in configless.evidence[0].excerpt
    assert "A restart cannot fix it" in configless.remedy and not configless.proposed_actions
    mountless = missing[f"Pod {PODS}/mountless"]
    assert f"ConfigMap {PODS}/mount-settings missing" in mountless.summary
    (event,) = mountless.evidence
    assert event.tool == "kubernetes__list_resources"
    assert event.arguments == {
        "kind": "events",
        "output": "json",
        "namespace": PODS,
        "field_selector": "type=Warning",
        "limit": 200,
    }
    assert event.excerpt.startswith(f"{PODS}/mountless.failedmount: ")
    assert '"object": "Pod/mountless"' in event.excerpt
    assert 'configmap \\"mount-settings\\" not found' in event.excerpt

    pending = by_subject(findings, "pending")
    assert set(pending) == {f"Pod {PODS}/nowhere", f"Pod {PODS}/unseen", f"Pod {PODS}/claimless"}
    nowhere = pending[f"Pod {PODS}/nowhere"]
    assert "didn't match Pod's node affinity/selector" in nowhere.summary
    assert nowhere.likely_cause.startswith(
        "nodeSelector type=sc-an-none: no node has this label (type on the nodes: "
    )
    assert nowhere.evidence[-1].arguments["kind"] == "nodes"
    claimless = pending[f"Pod {PODS}/claimless"]
    assert claimless.likely_cause == f"PVC {PODS}/data-missing does not exist"
    assert '"reason": "Unschedulable"' in nowhere.evidence[0].excerpt
    unseen = pending[f"Pod {PODS}/unseen"]
    assert unseen.summary.endswith("0/2 nodes are available: 2 Insufficient cpu.")
    assert unseen.likely_cause == "the scheduler says: 0/2 nodes are available: 2 Insufficient cpu."
    assert [e.arguments["kind"] for e in unseen.evidence] == ["events"]
    assert all(not f.proposed_actions for f in findings), "no write for a bare pod"


async def test_a_failed_rollout_with_a_previous_revision_proposes_a_rollback(
    pool: McpPool,
) -> None:
    findings, notes = await analyze(pool, ROLL)
    assert notes == []
    (rollout,) = [f for f in findings if f.analyzer == "rollout"]
    assert (rollout.subject, rollout.severity) == (f"Deployment {ROLL}/api", "critical")
    assert rollout.summary.startswith(f"rollout of Deployment {ROLL}/api failed: ")
    assert "ProgressDeadlineExceeded" in rollout.evidence[0].excerpt
    status = rollout.evidence[1]
    assert status.tool == "kubernetes__rollout_status" and status.arguments["output"] == "json"
    assert status.excerpt.startswith(f"{ROLL}/api: state failed, revisions ")
    assert "{'revision': 1, 'images': ['api:1']}" in status.excerpt
    assert "{'revision': 2, 'images': ['api:2']}" in status.excerpt
    assert rollout.proposed_actions == [
        ProposedAction(
            "kubernetes__rollback",
            {"name": "api", "namespace": ROLL, "revision": 1},
            f"return Deployment {ROLL}/api to revision 1, the last one before the stuck revision 2",
        )
    ]


def _available(kube: Any, namespace: str, name: str) -> bool:
    deployment = _deployment(kube, namespace, name)
    return bool(
        deployment["status"].get("availableReplicas") == deployment["spec"]["replicas"]
        and _condition(deployment, "Available").get("status") == "True"
    )


async def test_a_service_without_ready_endpoints(cluster: Any, pool: McpPool) -> None:
    # The module's cluster was set up minutes ago; on a loaded machine the controllers may
    # still be catching up with `served`, which would then rightly be a rollout finding.
    wait_for(lambda: _available(cluster, SVC, "served"), "served to be available")
    findings, notes = await analyze(pool, SVC)
    assert notes == []
    served = _deployment(cluster, SVC, "served")["status"]
    assert [f.subject for f in findings] == [f"Service {SVC}/lonely"], served
    (lonely,) = findings
    assert lonely.analyzer == "service_endpoints"
    assert lonely.likely_cause == "no pod matches its selector app=lonely"
    service, endpoints = lonely.evidence
    assert service.excerpt == f'{SVC}/lonely: {{"selector": {{"app": "lonely"}}}}'
    assert endpoints.arguments["kind"] == "endpointslices.discovery.k8s.io"
    assert endpoints.excerpt.startswith(f"{SVC}/lonely-")
    assert endpoints.excerpt.endswith('{"endpoints": []}')


async def test_firing_alerts_and_the_series_behind_an_alertmanager_alert(
    pool: McpPool, prometheus_server: McpServer
) -> None:
    payload = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "AutodevopsTestHighErrors",
                    "namespace": "team-a",
                    "code": "500",
                    "severity": "warning",
                },
                "annotations": {},
            },
            {
                "status": "firing",
                "labels": {
                    "alertname": "AutodevopsTestQueueBacklog",
                    "namespace": "team-b",
                    "job": "exporter",
                    "severity": "critical",
                },
                "annotations": {"summary": "Queue backlog in team-b"},
            },
            {"status": "resolved", "labels": {"alertname": "AutodevopsTestGone"}},
        ],
    }
    findings, notes = await analyze(pool, alert=payload)
    assert notes == []
    alerts = by_subject(findings, "alert")
    assert set(alerts) == {
        "Alert AutodevopsTestHighErrors in team-a",
        "Alert AutodevopsTestHighErrors in team-b",
        "Alert AutodevopsTestQueueBacklog in team-b",
    }
    backlog = alerts["Alert AutodevopsTestQueueBacklog in team-b"]
    assert backlog.severity == "critical"
    ranks = [("critical", "warning", "info").index(f.severity) for f in findings]
    assert ranks == sorted(ranks), "most severe first"
    assert backlog.summary == "AutodevopsTestQueueBacklog firing: Queue backlog in team-b"
    (queue,) = backlog.evidence
    assert queue.arguments == {"query": '{job="exporter",namespace="team-b"}'}
    depth = next(line for line in queue.excerpt.splitlines() if "queue_depth" in line)
    assert depth.split()[-1] == "7"
    team_a = alerts["Alert AutodevopsTestHighErrors in team-a"]
    assert team_a.severity == "warning"
    assert team_a.summary.startswith("AutodevopsTestHighErrors firing since ")
    firing, series = team_a.evidence
    assert firing.tool == "prometheus__alerts" and firing.arguments == {"state": "firing"}
    assert "namespace=team-a" in firing.excerpt.splitlines()[1]
    assert series.tool == "prometheus__query"
    assert series.arguments == {"query": '{code="500",namespace="team-a"}'}
    row = next(
        line for line in series.excerpt.splitlines() if "autodevops_test_requests_total" in line
    )
    assert row.split()[-1] == "5"
    assert len(alerts["Alert AutodevopsTestHighErrors in team-b"].evidence) == 1
    # Every namespace the role may list was read, across the whole scope.
    subjects = {f.subject for f in findings}
    assert {f"Deployment {CRASH}/web", f"Pod {PODS}/hungry", f"Service {SVC}/lonely"} <= subjects
    queried = [line for line in audit_lines(prometheus_server.audit_log) if line["tool"]]
    assert {line["tool"] for line in queried} == {"alerts", "query"}


async def test_alerts_outside_the_namespaces_are_left_out_unless_they_started_the_run(
    pool: McpPool,
) -> None:
    findings, _ = await analyze(pool, SVC)
    assert not [f for f in findings if f.analyzer == "alert"]
    one_alert = {  # as Scarlet's webhook stores each alert of a payload
        "status": "firing",
        "labels": {"alertname": "AutodevopsTestHighErrors", "namespace": "team-b", "code": "500"},
        "annotations": {"summary": "errors in team-b"},
        "fingerprint": "0123456789abcdef",
    }
    findings, notes = await analyze(pool, SVC, alert=one_alert)
    assert notes == []
    (alert,) = [f for f in findings if f.analyzer == "alert"]
    assert (alert.subject, alert.severity) == (
        "Alert AutodevopsTestHighErrors in team-b",
        "warning",
    )
    assert alert.evidence[0].arguments == {"query": '{code="500",namespace="team-b"}'}
    assert "autodevops_test_requests_total" in alert.evidence[0].excerpt


async def test_refused_reads_are_named_as_missing_evidence(
    kubernetes_server: McpServer, prometheus_server: McpServer
) -> None:
    async with _pool(kubernetes_server, prometheus_server, NO_EVENTS) as pool:
        findings, notes = await analyze(pool, PODS, "kube-system")
    outside = f"is outside your scope (allowed: {', '.join(NAMESPACES)})"
    assert notes[0] == f"pods in kube-system unavailable: namespace 'kube-system' {outside}"
    assert notes[1].startswith(f"warning events in {PODS} unavailable: ")
    assert f"deployments in kube-system unavailable: namespace 'kube-system' {outside}" in notes
    pending = by_subject(findings, "pending")
    assert f"Pod {PODS}/nowhere" in pending, "the scheduler's condition is still read"
    assert f"Pod {PODS}/unseen" not in pending, "its only evidence was an event"
    assert f"Pod {PODS}/hungry" in by_subject(findings, "oom")


async def test_a_list_cut_past_its_few_calls_is_named_not_dropped(
    pool: McpPool, kubernetes_server: McpServer, prometheus_server: McpServer
) -> None:
    whole, _ = await analyze(pool, PODS)
    async with _pool(kubernetes_server, prometheus_server, SMALL) as small:
        findings, notes = await analyze(small, PODS)
    assert f"pods in {PODS}: cut by the result limit after 8 calls" in notes[0]
    assert {(f.analyzer, f.subject) for f in findings} < {(f.analyzer, f.subject) for f in whole}
    pages = [
        line["arguments"]
        for line in audit_lines(kubernetes_server.audit_log)
        if line["subject"] == "scarlet-small-pages" and line["arguments"].get("kind") == "pods"
    ]
    assert [p["limit"] for p in pages[:4]] == [200, 50, 12, 3]
    assert len(pages) == 8, "a handful of calls, not one per object"
    assert any("continue_from" in page for page in pages), "later pages were followed"
