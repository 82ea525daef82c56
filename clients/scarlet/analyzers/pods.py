"""Pods whose containers fail: crash loops, OOM kills, images that cannot be pulled. A
workload's pods are grouped under the workload a person manages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .findings import Evidence, Finding, ProposedAction, subject_of
from .reader import Item, Reader, event_detail

RESTARTS = 5
PULL_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
RESTARTABLE = {"Deployment", "StatefulSet", "DaemonSet"}
# What a container said as it died (its termination message, or its log tail with
# FallbackToLogsOnError): configuration a restart cannot fix, or a dependency that may return.
CONFIGURATION = re.compile(
    r"config|setting|environment variable|env var|not set|missing|no such file|invalid|"
    r"permission denied|unknown flag|parse",
    re.I,
)
TRANSIENT = re.compile(
    r"connection refused|timed? ?out|temporar|unavailable|no route to host|dial tcp|"
    r"name resolution|try again",
    re.I,
)


@dataclass
class Problem:
    pod: Item
    container: dict[str, Any]


def statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def waiting(container: dict[str, Any]) -> dict[str, Any]:
    return dict((container.get("state") or {}).get("waiting") or {})


def last_terminated(container: dict[str, Any]) -> dict[str, Any]:
    return dict((container.get("lastState") or {}).get("terminated") or {})


def owner(pod: Item) -> tuple[str, str]:
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


def ready(pod: Item) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.status.get("conditions") or []
    )


def group_by_owner(problems: list[Problem]) -> dict[tuple[str, str, str], list[Problem]]:
    groups: dict[tuple[str, str, str], list[Problem]] = {}
    for problem in problems:
        kind, name = owner(problem.pod)
        groups.setdefault((kind, problem.pod.namespace, name), []).append(problem)
    return groups


def pods_of(problems: list[Problem]) -> str:
    names = sorted({p.pod.name for p in problems})
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{len(names)} pod{'s' if len(names) > 1 else ''} ({shown})"


def container_detail(problem: Problem) -> dict[str, Any]:
    c = problem.container
    keys = ("name", "image", "ready", "restartCount", "state", "lastState")
    return {k: c[k] for k in keys if k in c}


async def crashloops(reader: Reader) -> list[Finding]:
    """Containers that keep dying, with what they said as they died. A restart is proposed
    only when that points at a dependency that may be back; never for configuration."""
    problems = [
        Problem(pod, c)
        for pod in await reader.pods()
        for c in statuses(pod.obj)
        if waiting(c).get("reason") == "CrashLoopBackOff"
        or (
            int(c.get("restartCount", 0)) >= RESTARTS
            and not c.get("ready")
            and last_terminated(c).get("exitCode", 0) != 0
        )
    ]
    findings = []
    for (kind, namespace, name), group in group_by_owner(problems).items():
        last = last_terminated(group[0].container)
        said = str(last.get("message") or "").strip()
        exit_text = (
            f"exit code {last.get('exitCode')} ({last.get('reason', 'no reason')})"
            if last
            else "no previous exit recorded"
        )
        restarts = max(int(p.container.get("restartCount", 0)) for p in group)
        container = group[0].container.get("name")
        workload = subject_of(kind, namespace, name)
        actions, remedy = [], ""
        if said and CONFIGURATION.search(said):
            cause = f"the container exits at start on its configuration ({exit_text}): {said!r}"
            remedy = (
                f"fix the configuration it names (the env, ConfigMaps or Secrets of {workload}); "
                "the pods pick it up on their next restart. Restarting now cannot fix it."
            )
        elif said and TRANSIENT.search(said):
            cause = f"the container exits when a dependency fails ({exit_text}): {said!r}"
            remedy = "bring the dependency back; a restart then skips the crash-loop back-off"
            if kind in RESTARTABLE:
                actions.append(
                    ProposedAction(
                        "kubernetes__rollout_restart",
                        {"kind": kind, "name": name, "namespace": namespace},
                        f"restart {workload} once its dependency answers again, to skip the "
                        "crash-loop back-off",
                    )
                )
        else:
            cause = f"the container fails soon after start: {exit_text}" + (
                f": {said!r}" if said else "; it left no termination message"
            )
            remedy = (
                "read its previous logs (pod_logs previous=true) for why; a restart alone "
                "will crash the same way"
            )
        findings.append(
            Finding(
                analyzer="crashloop",
                severity="critical",
                subject=workload,
                summary=f"{pods_of(group)} crash-looping, container {container} restarted "
                f"{restarts} times",
                likely_cause=cause,
                evidence=[p.pod.evidence(container_detail(p)) for p in group],
                proposed_actions=actions,
                remedy=remedy,
                namespace=namespace,
                name=name,
            )
        )
    return findings


async def oom_kills(reader: Reader) -> list[Finding]:
    """Containers killed for passing their memory limit."""
    problems = [
        Problem(pod, c)
        for pod in await reader.pods()
        for c in statuses(pod.obj)
        if "OOMKilled"
        in (
            last_terminated(c).get("reason"),
            ((c.get("state") or {}).get("terminated") or {}).get("reason"),
        )
    ]
    findings = []
    for (kind, namespace, name), group in group_by_owner(problems).items():
        container = str(group[0].container.get("name"))
        limit = _memory_limit(group[0].pod.obj, container)
        looping = any(waiting(p.container).get("reason") == "CrashLoopBackOff" for p in group)
        findings.append(
            Finding(
                analyzer="oom",
                severity="critical" if looping else "warning",
                subject=subject_of(kind, namespace, name),
                summary=f"{pods_of(group)}: container {container} was OOMKilled",
                likely_cause=f"the container needs more memory than its limit ({limit})",
                evidence=[p.pod.evidence(container_detail(p)) for p in group],
                remedy="raise the memory limit, or find what grows (a leak, a larger input)",
                namespace=namespace,
                name=name,
            )
        )
    return findings


def _memory_limit(pod: dict[str, Any], container: str) -> str:
    for spec in (pod.get("spec") or {}).get("containers") or []:
        if spec.get("name") == container:
            limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
            return f"memory limit {limit}" if limit else "no memory limit: the node ran out"
    return "unknown"


async def image_pulls(reader: Reader) -> list[Finding]:
    """Containers that cannot start because their image cannot be pulled."""
    problems = [
        Problem(pod, c)
        for pod in await reader.pods()
        for c in statuses(pod.obj)
        if waiting(c).get("reason") in PULL_FAILURES
    ]
    findings = []
    for (kind, namespace, name), group in group_by_owner(problems).items():
        image = group[0].container.get("image", "?")
        message = waiting(group[0].container).get("message") or "no message from the kubelet"
        findings.append(
            Finding(
                analyzer="image_pull",
                severity="critical",
                subject=subject_of(kind, namespace, name),
                summary=f"{pods_of(group)} cannot pull image {image}",
                likely_cause=message,
                evidence=[p.pod.evidence(container_detail(p)) for p in group],
                remedy="check the image name and tag, and the registry credentials "
                "(imagePullSecrets)",
                namespace=namespace,
                name=name,
            )
        )
    return findings


async def readiness(reader: Reader) -> list[Finding]:
    """Pods that run but are not Ready: their containers run and fail readiness, quoted from
    the kubelet's Unhealthy events and the containers' states."""
    problems = [
        Problem(pod, c)
        for pod in await reader.pods()
        if pod.status.get("phase") == "Running" and not ready(pod)
        for c in statuses(pod.obj)
        if "running" in (c.get("state") or {}) and not c.get("ready")
    ]
    findings = []
    for (kind, namespace, name), group in group_by_owner(problems).items():
        evidence: list[Evidence] = [p.pod.evidence(container_detail(p)) for p in group]
        probes = []
        for pod in {p.pod.name: p.pod for p in group}.values():
            events = await reader.events_of("Pod", namespace, pod.name, "Unhealthy")
            evidence += [e.evidence(event_detail(e)) for e in events]
            probes += [str(e.obj.get("message", "")).strip() for e in events]
        failing = [p for p in probes if "eadiness" in p] or probes
        container = group[0].container.get("name")
        cause = (
            f"the readiness probe of container {container} fails: {failing[-1]}"
            if failing
            else f"container {container} runs but has not passed its readiness probe "
            "(no Unhealthy event recorded yet)"
        )
        findings.append(
            Finding(
                analyzer="readiness",
                severity="warning",
                subject=subject_of(kind, namespace, name),
                summary=f"{pods_of(group)} running but not ready",
                likely_cause=cause,
                evidence=evidence,
                remedy="fix what the probe checks (the endpoint, its port, what it depends "
                "on) or the probe itself; the pods receive no traffic until then",
                namespace=namespace,
                name=name,
            )
        )
    return findings
