"""Scarlet on incident scenarios, as operators use it: each broken namespace (and each healthy
decoy) is asked about through Scarlet's API (an Alertmanager webhook or a question), without a
model. Each report is scored on detection, cause, evidence and subject; then the alerts arrive
all at once, through a role with a small rate limit, and must be paced, not made partial.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.services import McpServer, start_mcp_server
from tests.clients.scarlet.scenarios.cases import CASES, NAMESPACES, NODE, RESERVED, Case
from tests.kube_helpers import wait_for
from tests.scarlet_harness import READ_TOOLS, Scarlet, scarlet_factory

__all__ = ["scarlet_factory"]  # the shared fixture, used here under its own name
FINAL = {"completed", "partial", "waiting_approval", "failed", "closed"}
BURST_CALLS_PER_MINUTE = 40
NODES = [
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "labels": {"autodevops-test": NODE}},
        "spec": {"taints": [{"key": "autodevops.test/scn", "effect": "NoSchedule"}]},
    },
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": RESERVED, "labels": {"pool": RESERVED}},
        "spec": {"taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]},
    },
]


def _path(kind: str, namespace: str, name: str = "", status: bool = False) -> str:
    base = {
        "Pod": f"/api/v1/namespaces/{namespace}/pods",
        "Job": f"/apis/batch/v1/namespaces/{namespace}/jobs",
        "CronJob": f"/apis/batch/v1/namespaces/{namespace}/cronjobs",
        "Event": f"/api/v1/namespaces/{namespace}/events",
    }[kind]
    return base + (f"/{name}" if name else "") + ("/status" if status else "")


def _patch_status(kube: Any, kind: str, namespace: str, name: str, body: dict[str, Any]) -> None:
    kube.request(
        "PATCH",
        _path(kind, namespace, name, status=True),
        body,
        content_type="application/merge-patch+json",
    )


def _pods(kube: Any, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube.request("GET", _path("Pod", namespace))["items"]
    return sorted(items, key=lambda p: str(p["metadata"]["name"]))


def _first_pod(kube: Any, namespace: str) -> str:
    return str(_pods(kube, namespace)[0]["metadata"]["name"])


def _event(namespace: str, kind: str, name: str, reason: str, message: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{reason.lower()}", "namespace": namespace},
        "involvedObject": {"kind": kind, "name": name, "namespace": namespace},
        "type": "Warning",
        "reason": reason,
        "message": message,
        "count": 4,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": "kubelet"},
    }


def _set_up(kube: Any, case: Case) -> None:
    """The case's objects, then what a kubelet would have written where none runs."""
    namespace = case.namespace
    kube.kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        ),
    )
    statuses: dict[str, dict[str, Any]] = {}
    for obj in case.objects:
        manifest = {k: v for k, v in obj.items() if not k.startswith("_")}
        manifest["metadata"] = {**manifest["metadata"], "namespace": namespace}
        if "_owner" in obj:
            cron = kube.request("GET", _path("CronJob", namespace, obj["_owner"]))
            manifest["metadata"]["ownerReferences"] = [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": obj["_owner"],
                    "uid": cron["metadata"]["uid"],
                    "controller": True,
                }
            ]
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
        if "_status" in obj:
            statuses[obj["metadata"]["name"]] = obj["_status"]
    for name, status in statuses.items():
        _patch_status(kube, "Pod", namespace, name, {"status": status})
    if case.pod_status is not None:
        wait_for(lambda: bool(_pods(kube, namespace)), f"the pods of {namespace}")
        for pod in _pods(kube, namespace):
            if pod["metadata"]["name"] not in statuses:
                _patch_status(
                    kube, "Pod", namespace, pod["metadata"]["name"], {"status": case.pod_status}
                )
    for name, body in case.job_status.items():
        # A finished Job needs the start time its controller writes first.
        wait_for(
            lambda name=name: (
                kube.request("GET", _path("Job", namespace, name))
                .get("status", {})
                .get("startTime")
            ),
            f"Job {namespace}/{name} to start",
        )
        _patch_status(kube, "Job", namespace, name, body)
    for name, body in case.cron_status.items():
        _patch_status(kube, "CronJob", namespace, name, body)
    for e in case.events:
        name = _first_pod(kube, namespace) if e["name"] == "{pod}" else e["name"]
        kube.request(
            "POST",
            _path("Event", namespace),
            _event(namespace, e["kind"], name, e["reason"], e["message"]),
        )


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    conditions = obj.get("status", {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), {})


def _settled(kube: Any, case: Case) -> bool:
    """What the controllers themselves must have done before the case can be asked about."""
    namespace = case.namespace
    if case.analyzer == "pending":
        pods = _pods(kube, namespace)
        return bool(pods) and all(
            _condition(p, "PodScheduled").get("status") == "False" for p in pods
        )
    if namespace == "scn-quota":
        quota = kube.request("GET", f"/api/v1/namespaces/{namespace}/resourcequotas/compute")
        events = kube.request(
            "GET", _path("Event", namespace) + "?fieldSelector=reason%3DFailedCreate"
        )
        return bool(events["items"]) and quota.get("status", {}).get("used", {}).get("pods") == "1"
    if case.decoy:
        deployments = kube.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments")
        return all(
            d["status"].get("availableReplicas") == d["spec"]["replicas"]
            for d in deployments["items"]
        )
    return True


@pytest.fixture(scope="module")
def incidents(kube: Any) -> Iterator[Any]:
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(NODES))
    for case in CASES:
        _set_up(kube, case)
    for case in CASES:
        wait_for(lambda case=case: _settled(kube, case), f"scenario {case.namespace} to settle")
    yield kube
    for namespace in NAMESPACES:
        kube.kubectl("-n", namespace, "delete", "pods", "--all", "--force", "--grace-period=0")
    kube.kubectl("delete", "namespace", *NAMESPACES, "--wait=false")
    kube.kubectl("delete", "node", NODE, RESERVED)


@dataclass
class Servers:
    kubernetes: McpServer
    tokens: dict[str, Path]


@pytest.fixture(scope="module")
def servers(incidents: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The Kubernetes MCP server as a cluster would run it for Scarlet: its namespaces, nodes
    and storage classes readable, restarts and rollbacks possible; one role paced hard."""
    workdir = tmp_path_factory.mktemp("scenarios")
    scope = {
        "namespaces": {"allow": NAMESPACES},
        "kinds": {"allow": ["*"], "deny": ["Secret"]},
        "verbs": ["get", "list", "patch"],
        "cluster_scoped": True,
    }
    tools = [*READ_TOOLS, "rollout_restart", "rollback"]
    policy = {
        "server": "kubernetes",
        "roles": {
            "scarlet": {"tools": tools, "scope": scope, "limits": {"calls_per_minute": 10_000}},
            "paced": {
                "tools": tools,
                "scope": scope,
                "limits": {"calls_per_minute": BURST_CALLS_PER_MINUTE},
            },
        },
    }
    tokens = {who: secrets.token_urlsafe(24) for who in ("scarlet", "paced")}
    entries = [
        {"token": t, "subject": f"scarlet-{who}", "roles": [who]} for who, t in tokens.items()
    ]
    server = start_mcp_server(
        workdir, "kubernetes", policy, entries, "--kubeconfig", str(incidents.kubeconfig)
    )
    files = {}
    for who, token in tokens.items():
        files[who] = workdir / f"{who}-token"
        files[who].write_text(token)
    yield Servers(server, files)
    server.process.terminate()
    server.process.wait(timeout=15)


def _scarlet(factory: Callable[..., Scarlet], servers: Servers, who: str) -> Scarlet:
    server = {
        "name": "kubernetes",
        "url": servers.kubernetes.url,
        "token_file": str(servers.tokens[who]),
    }
    return factory(f"scenarios-{who}", servers=[server], namespaces=None)


def _payload(labels: dict[str, str], fingerprint: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "scarlet",
        "alerts": [
            {
                "status": "firing",
                "fingerprint": fingerprint,
                "labels": {"severity": "warning", **labels},
                "annotations": {"summary": f"{labels['alertname']} in {labels['namespace']}"},
                "startsAt": "2026-11-30T10:00:00Z",
            }
        ],
    }


def _submit(scarlet: Scarlet, kube: Any, case: Case, fingerprint: str) -> int:
    if isinstance(case.trigger, str):
        response = scarlet.post("/v1/runs", {"question": case.trigger}, who="alice")
        assert response.status_code == 202, response.text
        return int(response.json()["run"])
    labels = {"namespace": case.namespace, **case.trigger}
    labels = {k: _first_pod(kube, case.namespace) if v == "{pod}" else v for k, v in labels.items()}
    response = scarlet.post("/v1/alerts", _payload(labels, fingerprint))
    assert response.status_code == 202, response.text
    return int(response.json()["runs"][0]["run"])


@dataclass
class Score:
    case: str
    detection: bool
    cause: bool
    evidence: bool
    subject: bool
    seconds: float
    calls: int
    status: str

    @property
    def points(self) -> int:
        return sum((self.detection, self.cause, self.evidence, self.subject))


def _seconds(detail: dict[str, Any]) -> float:
    """From the run's creation to its report (a run waiting for approval has one too)."""
    end = detail["finished_at"] or detail["updated_at"]
    return (
        datetime.fromisoformat(end) - datetime.fromisoformat(detail["created_at"])
    ).total_seconds()


def score(case: Case, detail: dict[str, Any]) -> Score:
    seconds = _seconds(detail)
    report = detail["report"] or {}
    findings = report.get("findings") or []
    head = findings[0] if findings else {}
    about = report.get("subject", {}).get("namespace") == case.namespace and all(
        f["namespace"] == case.namespace for f in findings
    )
    honest = detail["status"] in {"completed", "waiting_approval"} and not report.get("missing")
    if case.decoy:
        quiet = not findings
        return Score(
            case.namespace,
            quiet,
            quiet and report.get("likely_cause") == "no problem found",
            honest,
            about,
            seconds,
            report.get("calls", 0),
            detail["status"],
        )
    quoted = " ".join(e["excerpt"] for e in head.get("evidence", []))
    restarts = [
        a
        for a in [*detail["actions"], *report.get("already_pending", [])]
        if a["tool"] == "kubernetes__rollout_restart"
    ]
    return Score(
        case.namespace,
        any(f["analyzer"] == case.analyzer and f["subject"] == case.subject for f in findings),
        head.get("subject") == case.subject
        and all(c in head.get("likely_cause", "") for c in case.cause),
        honest and all(e in quoted for e in case.evidence),
        about and bool(restarts) == case.restart,
        seconds,
        report.get("calls", 0),
        detail["status"],
    )


def _table(scores: list[Score]) -> str:
    lines = ["case              detect cause evidence subject  seconds calls status"]
    for s in scores:
        marks = " ".join(
            f"{'yes' if v else 'NO':>6}" for v in (s.detection, s.cause, s.evidence, s.subject)
        )
        lines.append(f"{s.case:<17} {marks} {s.seconds:8.2f} {s.calls:5d} {s.status}")
    total = sum(s.points for s in scores)
    times = sorted(s.seconds for s in scores)
    lines.append(
        f"score {total}/{4 * len(scores)}; seconds per report: median "
        f"{times[len(times) // 2]:.2f}, max {times[-1]:.2f}"
    )
    return "\n".join(lines)


def test_each_report_names_the_cause_in_the_namespace_asked_about(
    scarlet_factory: Callable[..., Scarlet], servers: Servers, incidents: Any
) -> None:
    scarlet = _scarlet(scarlet_factory, servers, "scarlet")
    scores = []
    for case in CASES:
        run_id = _submit(scarlet, incidents, case, f"scn-{case.namespace}")
        scores.append(score(case, scarlet.wait_run(run_id, FINAL, timeout=60)))
    print("\n" + _table(scores))
    failed = [s for s in scores if s.points < 4]
    assert not failed, _table(scores)
    assert max(s.calls for s in scores) <= 12, "a handful of calls per run"


def test_a_burst_of_alerts_is_queued_and_paced_not_made_partial(
    scarlet_factory: Callable[..., Scarlet], servers: Servers, incidents: Any
) -> None:
    scarlet = _scarlet(scarlet_factory, servers, "paced")
    alerted = [c for c in CASES if not isinstance(c.trigger, str)]
    # The same crash loop alerted three times (three pods, three fingerprints) proposes one write.
    repeated = next(c for c in CASES if c.restart)
    jobs = [(c, f"burst-{c.namespace}") for c in alerted]
    jobs += [(repeated, f"burst-{repeated.namespace}-{n}") for n in (2, 3)]
    started = time.monotonic()
    with ThreadPoolExecutor(len(jobs)) as pool:
        runs = list(pool.map(lambda job: _submit(scarlet, incidents, *job), jobs))
    details = [scarlet.wait_run(run_id, FINAL, timeout=400) for run_id in runs]
    elapsed = time.monotonic() - started
    scores = [score(case, d) for (case, _), d in zip(jobs, details, strict=True)]
    print(f"\nburst of {len(jobs)} alerts in {elapsed:.1f}s\n" + _table(scores))
    assert [d["status"] for d in details if d["status"] == "partial"] == []
    assert all(s.points == 4 for s in scores), _table(scores)
    paced = [d["steps"] for d in details]
    assert any(
        step["detail"].get("paced_seconds", 0) > 0
        for steps in paced
        for step in steps
        if step["kind"] == "analyzers"
    ), "the role's rate limit was met, and waited out"
    restarts = {
        a["id"] for d in details for a in d["actions"] if a["tool"] == "kubernetes__rollout_restart"
    }
    assert len(restarts) == 1, "one waiting restart however many runs found the crash loop"
    reported = [d["report"]["already_pending"] for d in details if d["report"]["already_pending"]]
    assert len(reported) == 2 and all(p[0]["action"] in restarts for p in reported)
