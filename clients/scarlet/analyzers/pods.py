"""Pods whose containers fail: crash loops, OOM kills, images that cannot be pulled. A
workload's pods are grouped under the workload a person manages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .findings import Finding, ProposedAction, subject_of
from .reader import Item, Reader

RESTARTS = 5
PULL_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
RESTARTABLE = {"Deployment", "StatefulSet", "DaemonSet"}


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
    """Containers that keep dying; a workload's are restarted together (after approval)."""
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
                subject=subject_of(kind, namespace, name),
                summary=(
                    f"{pods_of(group)} crash-looping, container "
                    f"{group[0].container.get('name')} restarted {restarts} times"
                ),
                likely_cause=(
                    f"the container fails soon after start: {exit_text}; its previous logs "
                    "(pod_logs previous=true) say why"
                ),
                evidence=[p.pod.evidence(container_detail(p)) for p in group],
                proposed_actions=actions,
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
                likely_cause=(
                    f"the container needs more memory than its limit ({limit}): raise the "
                    "limit or find what grows (a leak, a larger input)"
                ),
                evidence=[p.pod.evidence(container_detail(p)) for p in group],
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
                likely_cause=(
                    f"{message}; check the image name and tag, and the registry credentials "
                    "(imagePullSecrets)"
                ),
                evidence=[p.pod.evidence(container_detail(p)) for p in group],
            )
        )
    return findings
