"""Pods the scheduler could not place."""

from __future__ import annotations

from .findings import Finding, subject_of
from .reader import Reader
from .references import KINDS, MISSING


async def pending(reader: Reader) -> list[Finding]:
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
                subject=subject_of("Pod", pod.namespace, pod.name),
                summary=f"pod {pod.namespace}/{pod.name} is not scheduled: {message}",
                likely_cause=cause,
                evidence=evidence,
            )
        )
    return findings
