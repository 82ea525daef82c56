"""Scarlet's deterministic analyzers: known failure shapes, found without a model.

They read the cluster and Prometheus only through the MCP pool, so they act with Scarlet's own
identity, inside its policy, and every call they make is audited by the servers. A tool that is
refused or down becomes a note: the run goes on with what it could read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from autodevops.clients.core.pool import McpPool
from autodevops.servers.core.output import parse_cut, parse_table, split_labels

SEVERITIES = ("critical", "warning", "info")
PAGE = 50
MAX_PAGES = 40
RESTARTS = 5
EXCERPT_LINES = 12
PULL_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
RESTARTABLE = {"Deployment", "StatefulSet", "DaemonSet"}
MISSING = re.compile(r'(configmap|secret|persistentvolumeclaim)s? "([^"]+)" not found', re.I)
KINDS = {"configmap": "ConfigMap", "secret": "Secret", "persistentvolumeclaim": "PVC"}
REDACTED = "[REDACTED]"


@dataclass
class Evidence:
    tool: str
    arguments: dict[str, Any]
    excerpt: str


@dataclass
class ProposedAction:
    """A write for Scarlet's policy to decide on; `arguments` never carry `dry_run`."""

    tool: str
    arguments: dict[str, Any]
    why: str


@dataclass
class Finding:
    analyzer: str
    severity: str
    subject: str
    summary: str
    likely_cause: str
    evidence: list[Evidence]
    proposed_actions: list[ProposedAction] = field(default_factory=list)


@dataclass
class AnalyzerScope:
    """`namespaces=None` means every namespace Scarlet's identity may list."""

    namespaces: list[str] | None = None


@dataclass
class _Item:
    """One listed object and the call that returned it, so evidence can name that call."""

    obj: dict[str, Any]
    tool: str
    arguments: dict[str, Any]

    @property
    def namespace(self) -> str:
        return str(self.obj.get("metadata", {}).get("namespace", ""))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))

    def evidence(self, detail: Any) -> Evidence:
        return Evidence(
            self.tool, self.arguments, _excerpt(f"{self.namespace}/{self.name}", detail)
        )


@dataclass
class _Row:
    cells: dict[str, str]
    line: str


@dataclass
class _Rows:
    tool: str
    arguments: dict[str, Any]
    header: str
    rows: list[_Row]

    def evidence(self, rows: list[_Row]) -> Evidence:
        lines = [self.header, *(r.line for r in rows[: EXCERPT_LINES - 1])]
        return Evidence(self.tool, self.arguments, "\n".join(lines))


class _Reader:
    """The run's tool calls: paged lists, parsed tables, answers cached, failures noted."""

    def __init__(self, pool: McpPool, scope: AnalyzerScope) -> None:
        self.pool = pool
        self.scope = scope
        self.notes: list[str] = []
        self._lists: dict[str, list[_Item]] = {}
        self._events: dict[str, list[tuple[_Rows, _Row]]] = {}
        self.failed: set[str] = set()

    @property
    def targets(self) -> list[str | None]:
        return list(self.scope.namespaces) if self.scope.namespaces is not None else [None]

    async def call(self, what: str, tool: str, arguments: dict[str, Any]) -> str | None:
        """The answer's text, or None with a note saying what could not be read and why."""
        result = await self.pool.call(tool, arguments)
        if result.outcome == "ok":
            return result.text
        reason = (result.text.strip().splitlines() or [result.outcome])[0]
        if result.outcome == "unknown_tool":
            reason = f"{tool} is not offered to Scarlet (its policy hides it, or no such server)"
        self.notes.append(f"{what} unavailable: {reason}")
        return None

    async def objects(self, kind: str, what: str) -> list[_Item]:
        if kind not in self._lists:
            items: list[_Item] = []
            for namespace in self.targets:
                items += await self._list(kind, what, namespace)
            self._lists[kind] = items
        return self._lists[kind]

    async def _list(self, kind: str, what: str, namespace: str | None) -> list[_Item]:
        """Every page of one kind; a page cut by the role's byte limit is asked again smaller."""
        tool = "kubernetes__list_resources"
        where = f" in {namespace}" if namespace else ""
        base: dict[str, Any] = {"kind": kind, "output": "json"}
        if namespace:
            base["namespace"] = namespace
        items: list[_Item] = []
        seen: set[tuple[str, str]] = set()
        cursor: str | None = None
        limit = PAGE
        for _ in range(MAX_PAGES):
            arguments = {**base, "limit": limit}
            if cursor:
                arguments["continue_from"] = cursor
            text = await self.call(what + where, tool, arguments)
            if text is None:
                self.failed.add(kind)
                return items
            document = _json(text)
            if document is None:
                if parse_cut(text) is not None and limit > 1:
                    limit = max(1, limit // 4)
                    continue
                self.notes.append(f"{what}{where} unreadable: {text.strip()[-200:]}")
                return items
            page = [_Item(o, tool, arguments) for o in document.get("items", [])]
            new = [i for i in page if (i.namespace, i.name) not in seen]
            seen.update((i.namespace, i.name) for i in new)
            items += new
            cursor = (document.get("next_page") or {}).get("continue_from")
            if not cursor:
                return items
            if not new:
                self.notes.append(f"{what}{where}: the next page repeated the last one; stopped")
                return items
        self.notes.append(f"{what}{where}: stopped after {MAX_PAGES} pages; narrow the scope")
        return items

    async def pods(self) -> list[_Item]:
        return await self.objects("pods", "pods")

    async def events(self, reason: str) -> list[tuple[_Rows, _Row]]:
        """Warning events with this reason in scope, each with the table it came from."""
        if reason not in self._events:
            found: list[tuple[_Rows, _Row]] = []
            for namespace in self.targets:
                arguments: dict[str, Any] = {"type": "Warning", "reason": reason}
                if namespace:
                    arguments["namespace"] = namespace
                text = await self.call("events", "kubernetes__events", arguments)
                if text is not None:
                    table = _table("kubernetes__events", arguments, text)
                    found += [(table, row) for row in table.rows]
            self._events[reason] = found
        return self._events[reason]

    async def pod_events(self, reason: str, pod: _Item) -> tuple[list[Evidence], list[str]]:
        """The pod's events with this reason: as evidence, and their messages."""
        rows = [
            (table, row)
            for table, row in await self.events(reason)
            if row.cells.get("OBJECT") == f"Pod/{pod.name}"
            and row.cells.get("NAMESPACE") == pod.namespace
        ]
        return [t.evidence([r]) for t, r in rows], [r.cells.get("MESSAGE", "") for _, r in rows]


# --- pods -------------------------------------------------------------------------------


@dataclass
class _Problem:
    pod: _Item
    container: dict[str, Any]


def _statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _waiting(container: dict[str, Any]) -> dict[str, Any]:
    return dict((container.get("state") or {}).get("waiting") or {})


def _last_terminated(container: dict[str, Any]) -> dict[str, Any]:
    return dict((container.get("lastState") or {}).get("terminated") or {})


def _owner(pod: _Item) -> tuple[str, str]:
    """The workload a person manages: a ReplicaSet's pods belong to its Deployment, whose
    name is the ReplicaSet's minus the pod-template-hash."""
    meta = pod.obj.get("metadata", {})
    for ref in meta.get("ownerReferences") or []:
        kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
        template_hash = (meta.get("labels") or {}).get("pod-template-hash")
        if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
            return "Deployment", name.removesuffix(f"-{template_hash}")
        if kind and name and ref.get("controller"):
            return kind, name
    return "Pod", pod.name


def _group(problems: list[_Problem]) -> dict[tuple[str, str, str], list[_Problem]]:
    groups: dict[tuple[str, str, str], list[_Problem]] = {}
    for problem in problems:
        kind, name = _owner(problem.pod)
        groups.setdefault((kind, problem.pod.namespace, name), []).append(problem)
    return groups


def _subject(kind: str, namespace: str, name: str) -> str:
    return f"{kind} {namespace}/{name}"


def _pods_of(problems: list[_Problem]) -> str:
    names = sorted({p.pod.name for p in problems})
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{len(names)} pod{'s' if len(names) > 1 else ''} ({shown})"


def _container_detail(problem: _Problem) -> dict[str, Any]:
    c = problem.container
    keys = ("name", "image", "ready", "restartCount", "state", "lastState")
    return {k: c[k] for k in keys if k in c}


async def crashloops(reader: _Reader) -> list[Finding]:
    """Containers that keep dying; a workload's are restarted together (after approval)."""
    problems = [
        _Problem(pod, c)
        for pod in await reader.pods()
        for c in _statuses(pod.obj)
        if _waiting(c).get("reason") == "CrashLoopBackOff"
        or (
            int(c.get("restartCount", 0)) >= RESTARTS
            and not c.get("ready")
            and _last_terminated(c).get("exitCode", 0) != 0
        )
    ]
    findings = []
    for (kind, namespace, name), group in _group(problems).items():
        last = _last_terminated(group[0].container)
        exit_text = (
            f"it last exited with code {last.get('exitCode')} ({last.get('reason', 'no reason')})"
            if last
            else "no previous exit recorded"
        )
        restarts = max(int(p.container.get("restartCount", 0)) for p in group)
        actions = []
        if kind in RESTARTABLE:
            actions.append(
                ProposedAction(
                    "kubernetes__rollout_restart",
                    {"kind": kind, "name": name, "namespace": namespace},
                    f"replace the crash-looping pods of {kind} {namespace}/{name} with fresh ones",
                )
            )
        findings.append(
            Finding(
                analyzer="crashloop",
                severity="critical",
                subject=_subject(kind, namespace, name),
                summary=(
                    f"{_pods_of(group)} crash-looping, container "
                    f"{group[0].container.get('name')} restarted {restarts} times"
                ),
                likely_cause=(
                    f"the container fails soon after start: {exit_text}; its previous logs "
                    "(pod_logs previous=true) say why"
                ),
                evidence=[p.pod.evidence(_container_detail(p)) for p in group],
                proposed_actions=actions,
            )
        )
    return findings


async def oom_kills(reader: _Reader) -> list[Finding]:
    """Containers killed for passing their memory limit."""
    problems = [
        _Problem(pod, c)
        for pod in await reader.pods()
        for c in _statuses(pod.obj)
        if "OOMKilled"
        in (
            _last_terminated(c).get("reason"),
            ((c.get("state") or {}).get("terminated") or {}).get("reason"),
        )
    ]
    findings = []
    for (kind, namespace, name), group in _group(problems).items():
        container = str(group[0].container.get("name"))
        limit = _memory_limit(group[0].pod.obj, container)
        looping = any(_waiting(p.container).get("reason") == "CrashLoopBackOff" for p in group)
        findings.append(
            Finding(
                analyzer="oom",
                severity="critical" if looping else "warning",
                subject=_subject(kind, namespace, name),
                summary=f"{_pods_of(group)}: container {container} was OOMKilled",
                likely_cause=(
                    f"the container needs more memory than its limit ({limit}): raise the "
                    "limit or find what grows (a leak, a larger input)"
                ),
                evidence=[p.pod.evidence(_container_detail(p)) for p in group],
            )
        )
    return findings


def _memory_limit(pod: dict[str, Any], container: str) -> str:
    for spec in (pod.get("spec") or {}).get("containers") or []:
        if spec.get("name") == container:
            limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
            return f"memory limit {limit}" if limit else "no memory limit: the node ran out"
    return "unknown"


async def image_pulls(reader: _Reader) -> list[Finding]:
    """Containers that cannot start because their image cannot be pulled."""
    problems = [
        _Problem(pod, c)
        for pod in await reader.pods()
        for c in _statuses(pod.obj)
        if _waiting(c).get("reason") in PULL_FAILURES
    ]
    findings = []
    for (kind, namespace, name), group in _group(problems).items():
        image = group[0].container.get("image", "?")
        message = _waiting(group[0].container).get("message") or "no message from the kubelet"
        findings.append(
            Finding(
                analyzer="image_pull",
                severity="critical",
                subject=_subject(kind, namespace, name),
                summary=f"{_pods_of(group)} cannot pull image {image}",
                likely_cause=(
                    f"{message}; check the image name and tag, and the registry credentials "
                    "(imagePullSecrets)"
                ),
                evidence=[p.pod.evidence(_container_detail(p)) for p in group],
            )
        )
    return findings


async def pending(reader: _Reader) -> list[Finding]:
    """Pods the scheduler could not place (its condition, or its FailedScheduling events)."""
    findings = []
    for pod in await reader.pods():
        status = pod.obj.get("status") or {}
        if status.get("phase") != "Pending":
            continue
        condition = next(
            (
                c
                for c in status.get("conditions") or []
                if c.get("type") == "PodScheduled" and c.get("status") == "False"
            ),
            None,
        )
        events, messages = await reader.pod_events("FailedScheduling", pod)
        if condition is None and not events:
            continue
        evidence = [pod.evidence({"conditions": [condition]})] if condition else []
        evidence += events
        message = str((condition or {}).get("message") or messages[-1])
        missing = MISSING.search(message)
        cause = (
            f"{KINDS[missing.group(1).lower()]} {pod.namespace}/{missing.group(2)} does not exist"
            if missing
            else "no node fits: check node selectors, affinity, taints and resource requests"
        )
        findings.append(
            Finding(
                analyzer="pending",
                severity="warning",
                subject=_subject("Pod", pod.namespace, pod.name),
                summary=f"pod {pod.namespace}/{pod.name} is not scheduled: {message}",
                likely_cause=cause,
                evidence=evidence,
            )
        )
    return findings


async def missing_config(reader: _Reader) -> list[Finding]:
    """Pods held back by a ConfigMap, Secret or PVC that does not exist."""
    findings = []
    for pod in await reader.pods():
        blocked = [
            c
            for c in _statuses(pod.obj)
            if _waiting(c).get("reason") == "CreateContainerConfigError"
        ]
        evidence = [pod.evidence(_container_detail(_Problem(pod, c))) for c in blocked]
        messages = [str(_waiting(c).get("message", "")) for c in blocked]
        if (pod.obj.get("status") or {}).get("phase") == "Pending":
            mounts, mount_messages = await reader.pod_events("FailedMount", pod)
            evidence += mounts
            messages += mount_messages
        if not evidence:
            continue
        missing = sorted(
            {
                f"{KINDS[m.group(1).lower()]} {m.group(2)}"
                for t in messages
                for m in MISSING.finditer(t)
            }
        )
        what = ", ".join(missing) or "a referenced ConfigMap, Secret or volume"
        findings.append(
            Finding(
                analyzer="missing_config",
                severity="critical",
                subject=_subject("Pod", pod.namespace, pod.name),
                summary=f"pod {pod.namespace}/{pod.name} cannot start: {what} missing",
                likely_cause=(
                    f"{what} does not exist in namespace {pod.namespace}: create it, or fix the "
                    "name the pod refers to"
                ),
                evidence=evidence,
            )
        )
    return findings


# --- workloads and services --------------------------------------------------------------


async def rollouts(reader: _Reader) -> list[Finding]:
    """Deployments past their progress deadline, or running with unavailable replicas."""
    findings = []
    for deployment in await reader.objects("deployments", "deployments"):
        spec, status = deployment.obj.get("spec") or {}, deployment.obj.get("status") or {}
        progressing: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), {}
        )
        unavailable = int(status.get("unavailableReplicas") or 0)
        stuck = progressing.get("reason") == "ProgressDeadlineExceeded"
        available: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "Available"), {}
        )
        if not stuck and not (unavailable and available.get("status") == "False"):
            continue
        namespace, name = deployment.namespace, deployment.name
        detail = {k: status.get(k) for k in ("replicas", "updatedReplicas", "readyReplicas")}
        evidence = [
            deployment.evidence(
                {**detail, "unavailableReplicas": unavailable, "conditions": [available]}
            )
        ]
        actions = []
        if stuck:
            evidence[0] = deployment.evidence({"conditions": [progressing]})
            revisions = await _revisions(reader, namespace, name, evidence)
            if len(revisions) >= 2:
                actions.append(
                    ProposedAction(
                        "kubernetes__rollback",
                        {"name": name, "namespace": namespace, "revision": revisions[-2]},
                        f"return Deployment {namespace}/{name} to revision {revisions[-2]}, "
                        f"the last one before the stuck revision {revisions[-1]}",
                    )
                )
        findings.append(
            Finding(
                analyzer="rollout",
                severity="critical" if stuck else "warning",
                subject=_subject("Deployment", namespace, name),
                summary=(
                    f"rollout of Deployment {namespace}/{name} failed: "
                    f"{progressing.get('message', 'progress deadline exceeded')}"
                    if stuck
                    else f"Deployment {namespace}/{name}: {unavailable} of "
                    f"{spec.get('replicas')} replicas unavailable"
                ),
                likely_cause=(
                    "the new revision's pods never became available (see the pod findings); "
                    "roll back or fix the new revision"
                    if stuck
                    else "pods are not ready: crash-looping, not scheduled or still starting"
                ),
                evidence=evidence,
                proposed_actions=actions,
            )
        )
    return findings


async def _revisions(
    reader: _Reader, namespace: str, name: str, evidence: list[Evidence]
) -> list[int]:
    arguments = {"kind": "Deployment", "name": name, "namespace": namespace}
    text = await reader.call("rollout history", "kubernetes__rollout_status", arguments)
    if text is None:
        return []
    evidence.append(Evidence("kubernetes__rollout_status", arguments, _head(text)))
    structured = await reader.call(
        "rollout history", "kubernetes__rollout_status", {**arguments, "output": "json"}
    )
    status = _json(structured or "") or {}
    return sorted(int(r["revision"]) for r in status.get("revisions") or [])


async def services(reader: _Reader) -> list[Finding]:
    """Services with a selector whose endpoints hold no ready address: traffic goes nowhere."""
    candidates = [
        s
        for s in await reader.objects("services", "services")
        if (s.obj.get("spec") or {}).get("selector")
        and (s.obj.get("spec") or {}).get("type") != "ExternalName"
    ]
    if not candidates:
        return []
    endpoints = await _endpoints(reader)
    if endpoints is None:
        return []
    findings = []
    for service in candidates:
        listed = endpoints.get((service.namespace, service.name), [])
        if any(ready for _, _, ready in listed):
            continue
        selector: dict[str, str] = service.obj["spec"]["selector"]
        matching = [
            p
            for p in await reader.pods()
            if p.namespace == service.namespace
            and selector.items() <= ((p.obj.get("metadata") or {}).get("labels") or {}).items()
        ]
        labels = ",".join(f"{k}={v}" for k, v in selector.items())
        findings.append(
            Finding(
                analyzer="service_endpoints",
                severity="warning",
                subject=_subject("Service", service.namespace, service.name),
                summary=f"Service {service.namespace}/{service.name} has no ready endpoints",
                likely_cause=(
                    f"no pod matches its selector {labels}"
                    if not matching
                    else f"{len(matching)} pods match {labels} but none is ready"
                ),
                evidence=[
                    service.evidence({"selector": selector}),
                    *(item.evidence(detail) for item, detail, _ in listed),
                ],
            )
        )
    return findings


Addresses = dict[tuple[str, str], list[tuple[_Item, dict[str, Any], bool]]]


async def _endpoints(reader: _Reader) -> Addresses | None:
    """Each Service's endpoint objects, their addresses and whether one is ready: from
    EndpointSlices, else from (deprecated) Endpoints; None when neither can be read."""
    found: Addresses = {}
    kind = "endpointslices.discovery.k8s.io"
    slices = await reader.objects(kind, "endpoint slices")
    if kind not in reader.failed:
        for item in slices:
            service = (item.obj.get("metadata", {}).get("labels") or {}).get(
                "kubernetes.io/service-name", ""
            )
            addresses = item.obj.get("endpoints") or []
            ready = any((e.get("conditions") or {}).get("ready") is not False for e in addresses)
            found.setdefault((item.namespace, service), []).append(
                (item, {"endpoints": addresses}, ready)
            )
        return found
    legacy = await reader.objects("endpoints", "endpoints")
    if "endpoints" in reader.failed:
        return None
    for item in legacy:
        subsets = item.obj.get("subsets") or []
        ready = any(subset.get("addresses") for subset in subsets)
        found.setdefault((item.namespace, item.name), []).append(
            (item, {"subsets": subsets}, ready)
        )
    return found


# --- Prometheus ---------------------------------------------------------------------------


def _severity(labels: dict[str, str]) -> str:
    """A firing alert deserves a look even when its rule names no (or an odd) severity."""
    value = labels.get("severity", "").lower()
    return value if value in SEVERITIES else "warning"


def _alert_subject(name: str, labels: dict[str, str]) -> str:
    where = labels.get("namespace")
    return f"Alert {name}" + (f" in {where}" if where else "")


async def alerts(reader: _Reader) -> list[Finding]:
    """Alerts Prometheus is firing now, in the run's namespaces (or cluster-wide ones)."""
    arguments = {"state": "firing"}
    text = await reader.call("alerts", "prometheus__alerts", arguments)
    if text is None:
        return []
    table = _table("prometheus__alerts", arguments, text)
    findings = []
    for row in table.rows:
        labels = split_labels(row.cells.get("LABELS", ""))
        namespace, scoped = labels.get("namespace"), reader.scope.namespaces
        if scoped is not None and namespace is not None and namespace not in scoped:
            continue
        name, severity = row.cells.get("ALERT", ""), row.cells.get("SEVERITY", "")
        findings.append(
            Finding(
                analyzer="alert",
                severity=_severity({"severity": severity}),
                subject=_alert_subject(name, labels),
                summary=f"{name} firing since {row.cells.get('SINCE', '?')}: "
                + (row.cells.get("SUMMARY") or ",".join(f"{k}={v}" for k, v in labels.items())),
                likely_cause=row.cells.get("SUMMARY") or "see the alert's rule and its series",
                evidence=[table.evidence([row])],
            )
        )
    return findings


async def alert_series(
    reader: _Reader, payload: dict[str, Any], findings: list[Finding]
) -> list[Finding]:
    """The series behind each alert of an Alertmanager payload: a query for its labels. It
    joins the firing-alert finding of the same alert, or becomes a finding of its own."""
    listed = payload.get("alerts")
    entries: list[dict[str, Any]] = listed if isinstance(listed, list) else [payload]
    new = []
    for entry in entries:
        labels = {str(k): str(v) for k, v in (entry.get("labels") or {}).items()}
        name = labels.pop("alertname", "")
        severity = _severity(labels)
        labels.pop("severity", None)
        if not name or entry.get("status", "firing") != "firing":
            continue
        arguments = {
            "query": _selector(labels) if labels else "ALERTS" + _selector({"alertname": name})
        }
        text = await reader.call("series behind the alert", "prometheus__query", arguments)
        if text is None:
            continue
        evidence = Evidence("prometheus__query", arguments, _head(text))
        subject = _alert_subject(name, labels)
        same = next((f for f in findings if f.analyzer == "alert" and f.subject == subject), None)
        if same is not None:
            same.evidence.append(evidence)
            continue
        summary = (entry.get("annotations") or {}).get("summary", "")
        new.append(
            Finding(
                analyzer="alert",
                severity=severity,
                subject=subject,
                summary=f"{name} firing" + (f": {summary}" if summary else ""),
                likely_cause=summary or "see the series behind the alert",
                evidence=[evidence],
            )
        )
    return new


def _selector(labels: dict[str, str]) -> str:
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "{" + ",".join(f"{k}={quoted(v)}" for k, v in sorted(labels.items())) + "}"


# --- the run ------------------------------------------------------------------------------

Analyzer = Callable[[_Reader], Awaitable[list[Finding]]]
ANALYZERS: list[Analyzer] = [
    crashloops,
    oom_kills,
    image_pulls,
    pending,
    missing_config,
    rollouts,
    services,
    alerts,
]


async def run_analyzers(
    pool: McpPool, scope: AnalyzerScope, alert: dict[str, Any] | None = None
) -> tuple[list[Finding], list[str]]:
    """Every analyzer over the scope; findings most severe first, and notes on what could
    not be read (a refused or unavailable tool never ends the run)."""
    reader = _Reader(pool, scope)
    findings: list[Finding] = []
    for analyzer in ANALYZERS:
        findings += await analyzer(reader)
    if alert:
        findings += await alert_series(reader, alert, findings)
    findings.sort(key=lambda f: SEVERITIES.index(f.severity) if f.severity in SEVERITIES else 3)
    return findings, list(dict.fromkeys(reader.notes))


# --- parsing the servers' answers ---------------------------------------------------------


def _json(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _table(tool: str, arguments: dict[str, Any], text: str) -> _Rows:
    """A server table read with the servers' own parser; each row keeps its line, to quote."""
    table = parse_table(text)
    rows = [_Row(cells, line) for cells, line in zip(table.records(), table.lines, strict=True)]
    return _Rows(tool, arguments, table.header, rows)


def _excerpt(name: str, detail: Any) -> str:
    return f"{name}: " + json.dumps(detail, separators=(", ", ": "), default=str)


def _head(text: str) -> str:
    lines = text.splitlines()
    more = len(lines) - EXCERPT_LINES
    return "\n".join(lines[:EXCERPT_LINES] + ([f"… {more} more lines"] if more > 0 else []))
