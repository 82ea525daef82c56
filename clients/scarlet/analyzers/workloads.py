"""Deployments whose rollout failed or that run with unavailable replicas."""

from __future__ import annotations

from typing import Any

from .findings import Evidence, Finding, ProposedAction, head, subject_of
from .reader import Reader, parse_json


async def rollouts(reader: Reader) -> list[Finding]:
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
                subject=subject_of("Deployment", namespace, name),
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
    reader: Reader, namespace: str, name: str, evidence: list[Evidence]
) -> list[int]:
    arguments = {"kind": "Deployment", "name": name, "namespace": namespace}
    text = await reader.call("rollout history", "kubernetes__rollout_status", arguments)
    if text is None:
        return []
    evidence.append(Evidence("kubernetes__rollout_status", arguments, head(text)))
    structured = await reader.call(
        "rollout history", "kubernetes__rollout_status", {**arguments, "output": "json"}
    )
    status = parse_json(structured or "") or {}
    return sorted(int(r["revision"]) for r in status.get("revisions") or [])
