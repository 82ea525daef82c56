"""Pods held back by what they refer to: a ConfigMap or Secret that does not exist, or exists
without the key a container asks for. The pod's references are compared with the objects
themselves, so the finding names the missing key and where it was expected."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .findings import Evidence, Finding, subject_of
from .pods import Problem, container_detail, group_by_owner, statuses, waiting
from .reader import Item, Reader, event_detail

MISSING = re.compile(r'(configmap|secret|persistentvolumeclaim)s? "([^"]+)" not found', re.I)
KINDS = {"configmap": "ConfigMap", "secret": "Secret", "persistentvolumeclaim": "PVC"}
BLOCKED = {"CreateContainerConfigError", "CreateContainerError", "ContainerCreating"}
LISTS = {"ConfigMap": ("configmaps", "ConfigMaps"), "Secret": ("secrets", "Secrets")}


@dataclass(frozen=True)
class Reference:
    """One thing a pod needs: an object (ConfigMap or Secret), and a key of it or all of it."""

    kind: str
    name: str
    key: str | None
    optional: bool
    where: str

    def text(self, namespace: str) -> str:
        target = f"{self.kind} {namespace}/{self.name}"
        return f"key {self.key} in {target}" if self.key else target


def references(pod: dict[str, Any]) -> list[Reference]:
    spec = pod.get("spec") or {}
    found: list[Reference] = []
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for c in containers:
        where = f"container {c.get('name')}"
        for env in c.get("env") or []:
            source = env.get("valueFrom") or {}
            for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if ref := source.get(field):
                    found.append(
                        Reference(
                            kind,
                            str(ref.get("name")),
                            str(ref.get("key")),
                            bool(ref.get("optional")),
                            f"{where} env {env.get('name')}",
                        )
                    )
        for env_from in c.get("envFrom") or []:
            for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if ref := env_from.get(field):
                    found.append(
                        Reference(
                            kind, str(ref.get("name")), None, bool(ref.get("optional")), where
                        )
                    )
    for volume in spec.get("volumes") or []:
        where = f"volume {volume.get('name')}"
        for field, kind, name_field in (
            ("configMap", "ConfigMap", "name"),
            ("secret", "Secret", "secretName"),
        ):
            if source := volume.get(field):
                optional, name = bool(source.get("optional")), str(source.get(name_field))
                items = source.get("items") or []
                found += [Reference(kind, name, str(i.get("key")), optional, where) for i in items]
                if not items:
                    found.append(Reference(kind, name, None, optional, where))
    return found


async def missing_config(reader: Reader) -> list[Finding]:
    """Pods that cannot start for a ConfigMap or Secret, or a key of one, that is not there."""
    problems: list[Problem] = []
    for pod in await reader.pods():
        blocked = [c for c in statuses(pod.obj) if waiting(c).get("reason") in BLOCKED]
        pending_mount = pod.status.get("phase") == "Pending" and any(
            isinstance(v, dict) and ("configMap" in v or "secret" in v)
            for v in pod.spec.get("volumes") or []
        )
        if blocked:
            problems += [Problem(pod, c) for c in blocked]
        elif pending_mount and await reader.events_of(
            "Pod", pod.namespace, pod.name, "FailedMount"
        ):
            problems.append(Problem(pod, {}))
    findings = []
    for (kind, namespace, name), group in group_by_owner(problems).items():
        pod = group[0].pod
        evidence: list[Evidence] = [
            p.pod.evidence(container_detail(p)) for p in group if p.container
        ]
        absent, shown = await _absent(reader, pod, evidence)
        mounts = await reader.events_of("Pod", namespace, pod.name, "FailedMount")
        evidence += [e.evidence(event_detail(e)) for e in mounts]
        if not absent:
            messages = [str(waiting(p.container).get("message", "")) for p in group]
            messages += [str(e.obj.get("message", "")) for e in mounts]
            absent = sorted(
                {
                    f"{KINDS[m.group(1).lower()]} {namespace}/{m.group(2)}"
                    for t in messages
                    for m in MISSING.finditer(t)
                }
            )
        what = ", ".join(absent) or "a referenced ConfigMap, Secret or volume"
        workload = subject_of(kind, namespace, name)
        findings.append(
            Finding(
                analyzer="missing_config",
                severity="critical",
                subject=workload,
                summary=f"{_pods(group)} cannot start: {what} missing",
                likely_cause=f"{what} does not exist" + (f" ({'; '.join(shown)})" if shown else ""),
                evidence=evidence,
                remedy=f"add {what}, or fix the reference in {workload}; the pods start by "
                "themselves once it exists. A restart cannot fix it.",
                namespace=namespace,
                name=name,
            )
        )
    return findings


async def _absent(
    reader: Reader, pod: Item, evidence: list[Evidence]
) -> tuple[list[str], list[str]]:
    """The pod's required references that do not resolve, and what each object holds."""
    absent: list[str] = []
    shown: list[str] = []
    for ref in references(pod.obj):
        if ref.optional:
            continue
        plural, what = LISTS[ref.kind]
        objects = await reader.objects(plural, what)
        if objects is None:
            continue
        target = next((o for o in objects if o.name == ref.name), None)
        if target is None:
            absent.append(ref.text(pod.namespace))
            continue
        keys = sorted({*(target.obj.get("data") or {}), *(target.obj.get("binaryData") or {})})
        if ref.key and ref.key not in keys:
            absent.append(ref.text(pod.namespace))
            shown.append(f"{ref.kind} {ref.name} has keys {', '.join(keys) or 'none'}")
            evidence.append(target.evidence({"keys": keys, "wanted_by": ref.where}))
    return sorted(set(absent)), shown


def _pods(group: list[Problem]) -> str:
    names = sorted({p.pod.name for p in group})
    return f"pod {names[0]}" if len(names) == 1 else f"{len(names)} pods ({', '.join(names[:3])})"
