"""Pods held back by what they refer to: a ConfigMap, Secret or PVC that does not exist."""

from __future__ import annotations

import re

from .findings import Finding, subject_of
from .pods import Problem, container_detail, statuses, waiting
from .reader import Reader

MISSING = re.compile(r'(configmap|secret|persistentvolumeclaim)s? "([^"]+)" not found', re.I)
KINDS = {"configmap": "ConfigMap", "secret": "Secret", "persistentvolumeclaim": "PVC"}


async def missing_config(reader: Reader) -> list[Finding]:
    """Pods held back by a ConfigMap, Secret or PVC that does not exist."""
    findings = []
    for pod in await reader.pods():
        blocked = [
            c for c in statuses(pod.obj) if waiting(c).get("reason") == "CreateContainerConfigError"
        ]
        evidence = [pod.evidence(container_detail(Problem(pod, c))) for c in blocked]
        messages = [str(waiting(c).get("message", "")) for c in blocked]
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
                subject=subject_of("Pod", pod.namespace, pod.name),
                summary=f"pod {pod.namespace}/{pod.name} cannot start: {what} missing",
                likely_cause=(
                    f"{what} does not exist in namespace {pod.namespace}: create it, or fix the "
                    "name the pod refers to"
                ),
                evidence=evidence,
            )
        )
    return findings
