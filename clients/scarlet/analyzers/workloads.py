"""Deployments whose rollout failed or that run with unavailable replicas, followed to why:
a ResourceQuota that refused their pods (the ReplicaSet's FailedCreate event and the quota's
used/hard), or the finding about their own pods."""

from __future__ import annotations

import re
from typing import Any

from .findings import Evidence, Finding, ProposedAction, subject_of
from .reader import Item, Reader, event_detail, parse_json

QUOTA = re.compile(r"exceeded quota: ([^,]+)")
# Causes a rollback cannot fix: the cluster refuses or cannot place any revision's pods.
NOT_THE_REVISION = {"pending", "quota"}


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


async def rollouts(reader: Reader) -> list[Finding]:
    findings = []
    for deployment in await reader.objects("deployments", "deployments") or []:
        status = deployment.status
        progressing, available = (
            _condition(status, "Progressing"),
            _condition(status, "Available"),
        )
        unavailable = int(status.get("unavailableReplicas") or 0)
        stuck = progressing.get("reason") == "ProgressDeadlineExceeded"
        if not stuck and not (unavailable and available.get("status") == "False"):
            continue
        namespace, name = deployment.namespace, deployment.name
        workload = subject_of("Deployment", namespace, name)
        detail = {k: status.get(k) for k in ("replicas", "updatedReplicas", "readyReplicas")}
        evidence = [
            deployment.evidence(
                {
                    **detail,
                    "unavailableReplicas": unavailable,
                    "conditions": [progressing if stuck else available],
                }
            )
        ]
        quota = await _quota(reader, deployment, evidence)
        behind = next(
            (f for f in reader.findings if f.subject == workload and f.analyzer != "rollout"),
            None,
        )
        if quota:
            cause, analyzer = quota, "quota"
            remedy = (
                "raise the quota's hard limit, or lower the Deployment's replicas or requests; "
                "the ReplicaSet retries by itself"
            )
        elif behind is not None:
            if not stuck:
                continue  # the pods' own finding names this Deployment and says why
            cause, remedy, analyzer = (
                f"the new revision's pods fail: {behind.likely_cause}",
                behind.remedy,
                behind.analyzer,
            )
        else:
            cause, analyzer = (
                "the Deployment's pods are not available and nothing more specific was found "
                "(not crash-looping, pending or failing readiness)",
                "",
            )
            remedy = "describe the Deployment and its ReplicaSets"
        actions = []
        if stuck and analyzer not in NOT_THE_REVISION:
            revisions = await _revisions(reader, namespace, name, evidence)
            if len(revisions) >= 2:
                actions.append(
                    ProposedAction(
                        "kubernetes__rollback",
                        {"name": name, "namespace": namespace, "revision": revisions[-2]},
                        f"return {workload} to revision {revisions[-2]}, the last one before "
                        f"the stuck revision {revisions[-1]}",
                    )
                )
        findings.append(
            Finding(
                analyzer="rollout",
                severity="critical" if stuck or quota else "warning",
                subject=workload,
                summary=(
                    f"rollout of {workload} failed: "
                    f"{progressing.get('message', 'progress deadline exceeded')}"
                    if stuck
                    else f"{workload}: {unavailable} of "
                    f"{deployment.spec.get('replicas')} replicas unavailable"
                ),
                likely_cause=cause,
                evidence=evidence,
                proposed_actions=actions,
                remedy=remedy,
                namespace=namespace,
                name=name,
            )
        )
    return findings


async def _quota(reader: Reader, deployment: Item, evidence: list[Evidence]) -> str:
    """The quota that refused the Deployment's pods, from its ReplicaSets' FailedCreate
    events, with the quota's used and hard amounts."""
    refused = [
        e
        for e in await reader.warnings()
        if e.obj.get("reason") == "FailedCreate"
        and (e.obj.get("involvedObject") or {}).get("kind") == "ReplicaSet"
        and str((e.obj.get("involvedObject") or {}).get("name", "")).startswith(
            f"{deployment.name}-"
        )
        and e.namespace == deployment.namespace
    ]
    if not refused:
        return ""
    event = refused[-1]
    evidence.append(event.evidence(event_detail(event)))
    message = str(event.obj.get("message", ""))
    match = QUOTA.search(message)
    if match is None:
        return f"its ReplicaSet cannot create pods: {message}"
    name = match.group(1).strip()
    quotas = await reader.objects("resourcequotas", "ResourceQuotas") or []
    quota = next((q for q in quotas if q.name == name), None)
    if quota is None:
        return f"ResourceQuota {name} refuses its pods: {message}"
    hard, used = quota.status.get("hard") or {}, quota.status.get("used") or {}
    evidence.append(quota.evidence({"hard": hard, "used": used}))
    full = [f"{r} used {used.get(r)} of {hard[r]}" for r in sorted(hard) if r in message]
    return (
        f"ResourceQuota {deployment.namespace}/{name} refuses its pods "
        f"({'; '.join(full) or 'see the quota'}): its ReplicaSet's pods fail to be created"
    )


async def _revisions(
    reader: Reader, namespace: str, name: str, evidence: list[Evidence]
) -> list[int]:
    arguments = {"kind": "Deployment", "name": name, "namespace": namespace, "output": "json"}
    text = await reader.call("rollout history", "kubernetes__rollout_status", arguments)
    status = parse_json(text or "")
    if status is None:
        return []
    history = [
        {"revision": r.get("revision"), "images": r.get("images")}
        for r in status.get("revisions") or []
    ]
    evidence.append(
        Evidence(
            "kubernetes__rollout_status",
            arguments,
            f"{namespace}/{name}: state {status.get('state')}, revisions {history}",
        )
    )
    return sorted(int(r["revision"]) for r in status.get("revisions") or [])
