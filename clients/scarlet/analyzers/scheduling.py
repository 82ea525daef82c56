"""Pods the scheduler could not place, followed to the reason: the claim and its StorageClass,
or the nodeSelector label or taint that no node satisfies, found by comparing the pod with the
nodes (the scheduler's own message names neither)."""

from __future__ import annotations

from typing import Any

from .findings import Evidence, Finding, subject_of
from .pods import Problem, group_by_owner
from .reader import LIST, Item, Reader, event_detail

DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
STORAGE_CLASSES = "storageclasses.storage.k8s.io"


def _unscheduled(pod: Item) -> dict[str, Any] | None:
    return next(
        (
            c
            for c in pod.status.get("conditions") or []
            if c.get("type") == "PodScheduled" and c.get("status") == "False"
        ),
        None,
    )


async def pending(reader: Reader) -> list[Finding]:
    problems = []
    for pod in await reader.pods():
        if pod.status.get("phase") != "Pending" or pod.spec.get("nodeName"):
            continue
        if _unscheduled(pod) or await reader.events_of(
            "Pod", pod.namespace, pod.name, "FailedScheduling"
        ):
            problems.append(Problem(pod, {}))
    findings = []
    for (kind, namespace, name), group in group_by_owner(problems).items():
        pod = group[0].pod
        condition = _unscheduled(pod)
        events = await reader.events_of("Pod", namespace, pod.name, "FailedScheduling")
        evidence: list[Evidence] = [pod.evidence({"conditions": [condition]})] if condition else []
        evidence += [e.evidence(event_detail(e)) for e in events[-1:]]
        message = str(
            (condition or {}).get("message") or (events[-1].obj.get("message") if events else "")
        )
        cause, remedy = await _claims(reader, pod, evidence)
        if not cause:
            cause, remedy = await _nodes(reader, pod, evidence)
        if not cause:
            cause = f"the scheduler says: {message}" if message else "the scheduler gave no reason"
            remedy = "compare the pod's requests, affinity and tolerations with the nodes"
        findings.append(
            Finding(
                analyzer="pending",
                severity="warning",
                subject=subject_of(kind, namespace, name),
                summary=f"{len(group)} pod(s) of {subject_of(kind, namespace, name)} not "
                f"scheduled: {message or 'no scheduler message'}",
                likely_cause=cause,
                evidence=evidence,
                remedy=remedy,
                namespace=namespace,
                name=name,
            )
        )
    return findings


async def _claims(reader: Reader, pod: Item, evidence: list[Evidence]) -> tuple[str, str]:
    """The first claim of the pod that keeps it from a node, followed to its StorageClass."""
    names = [
        str(v["persistentVolumeClaim"].get("claimName"))
        for v in pod.spec.get("volumes") or []
        if isinstance(v, dict) and v.get("persistentVolumeClaim")
    ]
    if not names:
        return "", ""
    claims = await reader.objects("persistentvolumeclaims", "PersistentVolumeClaims")
    if claims is None:
        return "", ""
    for claim_name in names:
        claim = next((c for c in claims if c.name == claim_name), None)
        where = f"{pod.namespace}/{claim_name}"
        if claim is None:
            return (
                f"PVC {where} does not exist",
                f"create PVC {where}, or fix the claim name in the pod template",
            )
        if claim.status.get("phase") == "Bound":
            continue
        wanted = claim.spec.get("storageClassName")
        evidence.append(
            claim.evidence(
                {"phase": claim.status.get("phase"), "storageClassName": wanted}
                | {
                    "events": [
                        event_detail(e)["message"] for e in await _claim_events(reader, claim)
                    ]
                }
            )
        )
        classes = await reader.objects(STORAGE_CLASSES, "StorageClasses", cluster=True)
        if classes is None:
            return f"PVC {where} is {claim.status.get('phase', 'Pending')}, bound to no volume", ""
        known = ", ".join(c.name for c in classes) or "none"
        if wanted:
            match = next((c for c in classes if c.name == wanted), None)
            if match is None:
                evidence.append(_listed(classes, STORAGE_CLASSES, f"StorageClasses: {known}"))
                return (
                    f"PVC {where} asks for StorageClass {wanted}, which does not exist "
                    f"(classes: {known})",
                    f"set the claim's storageClassName to an existing class ({known}), or "
                    f"create StorageClass {wanted}; the claim cannot be changed in place, so "
                    "recreate it",
                )
            provisioner = match.obj.get("provisioner", "?")
            evidence.append(match.evidence({"provisioner": provisioner}))
            return (
                f"PVC {where} waits for StorageClass {wanted} (provisioner {provisioner}) to "
                "provision a volume, and it has not",
                f"check that provisioner {provisioner} runs and can provision, or pre-create "
                "a matching PersistentVolume",
            )
        default = [
            c.name
            for c in classes
            if (c.meta.get("annotations") or {}).get(DEFAULT_CLASS) == "true"
        ]
        if not default:
            return (
                f"PVC {where} names no StorageClass and the cluster has no default one "
                f"(classes: {known})",
                "set the claim's storageClassName, or mark a StorageClass as the default",
            )
    return "", ""


async def _claim_events(reader: Reader, claim: Item) -> list[Item]:
    return await reader.events_of("PersistentVolumeClaim", claim.namespace, claim.name)


def _listed(items: list[Item], kind: str, text: str) -> Evidence:
    """A list's content as evidence, naming the call (an empty list names its own)."""
    arguments = items[0].arguments if items else {"kind": kind, "output": "json"}
    return Evidence(LIST, arguments, text)


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t.get("key") == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _taint(t: dict[str, Any]) -> str:
    value = f"={t['value']}" if t.get("value") else ""
    return f"{t.get('key')}{value}:{t.get('effect')}"


async def _nodes(reader: Reader, pod: Item, evidence: list[Evidence]) -> tuple[str, str]:
    """The pod against every node: the selector label no node has, or the taint that every
    node it selects carries and the pod does not tolerate."""
    nodes = await reader.objects("nodes", "nodes", cluster=True)
    if not nodes:
        return "", ""
    selector: dict[str, str] = pod.spec.get("nodeSelector") or {}
    tolerations = pod.spec.get("tolerations") or []
    summary = {
        n.name: {
            "labels": {k: (n.meta.get("labels") or {}).get(k) for k in selector},
            "taints": [_taint(t) for t in n.spec.get("taints") or []],
            "unschedulable": bool(n.spec.get("unschedulable")),
        }
        for n in nodes
    }
    for key, value in selector.items():
        holders = [n for n in nodes if (n.meta.get("labels") or {}).get(key) == value]
        if not holders:
            evidence.append(pod.evidence({"nodeSelector": selector}))
            evidence.append(_listed(nodes, "nodes", f"nodes: {summary}"))
            seen = sorted({str(v) for n in nodes if (v := (n.meta.get("labels") or {}).get(key))})
            return (
                f"nodeSelector {key}={value}: no node has this label "
                f"({key} on the nodes: {', '.join(seen) or 'none'})",
                f"fix the nodeSelector of the pod template, or label a node {key}={value}",
            )
    candidates = [
        n
        for n in nodes
        if all((n.meta.get("labels") or {}).get(k) == v for k, v in selector.items())
    ]
    blocking: dict[str, list[str]] = {}
    for node in candidates:
        taints = [
            t
            for t in node.spec.get("taints") or []
            if t.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, t)
        ]
        if taints:
            blocking[node.name] = [_taint(t) for t in taints]
        elif node.spec.get("unschedulable"):
            blocking[node.name] = ["cordoned (unschedulable)"]
    if candidates and len(blocking) == len(candidates):
        evidence.append(pod.evidence({"nodeSelector": selector, "tolerations": tolerations}))
        evidence.append(_listed(nodes, "nodes", f"nodes: {summary}"))
        text = "; ".join(f"node {n}: {', '.join(t)}" for n, t in sorted(blocking.items()))
        return (
            f"every node the pod may use carries a taint it does not tolerate ({text})",
            "add a matching toleration to the pod template, or remove the taint from a node",
        )
    return "", ""
