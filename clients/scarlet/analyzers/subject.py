"""What a run is about: the namespace, and the object when one is named, that an alert's labels
or a question give; the whole cluster only for an explicit survey (a schedule, or a question
asking for one)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

# Alert labels that name an object, most specific workload first (kube-state-metrics' names;
# `job` is Prometheus' scrape job, never a Kubernetes Job).
OBJECT_LABELS = (
    ("cronjob", "CronJob"),
    ("job_name", "Job"),
    ("deployment", "Deployment"),
    ("statefulset", "StatefulSet"),
    ("daemonset", "DaemonSet"),
    ("persistentvolumeclaim", "PersistentVolumeClaim"),
    ("service", "Service"),
    ("pod", "Pod"),
)
KINDS = {
    "deployment": "Deployment",
    "statefulset": "StatefulSet",
    "daemonset": "DaemonSet",
    "job": "Job",
    "cronjob": "CronJob",
    "pod": "Pod",
    "service": "Service",
    "pvc": "PersistentVolumeClaim",
}
_NAME = r"[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?"
# Words that follow "pod" or "deployment" in a sentence without being a name.
_NOT_NAME = re.compile(
    r"is|are|was|were|has|have|in|of|on|the|that|which|named|called|keeps|fails|failing|"
    r"crashing|not|and|or|with|for|to",
    re.I,
)
_SURVEY = re.compile(r"\b(survey|cluster[- ]wide|whole cluster|all namespaces)\b", re.I)
_NAMESPACE = re.compile(rf"(?:\bnamespace|\bns|(?<!\S)-n)\s*[:=]?\s*[\"'`]?({_NAME})\b", re.I)
_OBJECT = re.compile(rf"\b({'|'.join(KINDS)})s?\s*[:=]?\s*[\"'`]?(?:({_NAME})/)?({_NAME})\b", re.I)


@dataclass(frozen=True)
class Subject:
    """`namespace=None` is a survey of every namespace the run may read."""

    namespace: str | None = None
    kind: str | None = None
    name: str | None = None
    why: str = ""

    @property
    def survey(self) -> bool:
        return self.namespace is None

    def __str__(self) -> str:
        if self.namespace is None:
            return "the cluster (survey)"
        if self.kind and self.name:
            return f"{self.kind} {self.namespace}/{self.name}"
        return f"namespace {self.namespace}"

    def covers(self, namespace: str, name: str = "") -> bool:
        """Whether an object (by namespace and name) is the subject or part of it: the
        subject's namespace, and when an object is named, that object, one it owns (its pods,
        a CronJob's Jobs) or its owner: owned objects' names start with their owner's."""
        if self.namespace is None:
            return True
        if namespace != self.namespace:
            return False
        return (
            self.name is None
            or name == self.name
            or name.startswith(f"{self.name}-")
            or (bool(name) and self.name.startswith(f"{name}-"))
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "survey": self.survey, "text": str(self)}


def survey(why: str) -> Subject:
    return Subject(why=why)


def from_alert(alert: dict[str, Any]) -> Subject:
    """From one alert's labels (as the webhook stores it), or a whole payload's common labels,
    else its first alert's."""
    labels = alert.get("labels") or alert.get("commonLabels") or {}
    listed = alert.get("alerts")
    if not labels.get("namespace") and isinstance(listed, list) and listed:
        labels = listed[0].get("labels") or {}
    namespace = labels.get("namespace")
    if not namespace:
        return survey("the alert names no namespace")
    for label, kind in OBJECT_LABELS:
        if labels.get(label):
            return Subject(str(namespace), kind, str(labels[label]), f"alert label {label}")
    return Subject(str(namespace), why="alert label namespace")


def from_question(question: str) -> Subject:
    if _SURVEY.search(question):
        return survey("the question asks for a survey")
    namespace = next(
        (m for m in _NAMESPACE.finditer(question) if not _NOT_NAME.fullmatch(m.group(1))), None
    )
    target = next(
        (m for m in _OBJECT.finditer(question) if not _NOT_NAME.fullmatch(m.group(3))), None
    )
    where = namespace.group(1) if namespace else (target.group(2) if target else None)
    if where is None:
        return survey("the question names no namespace")
    if target is not None:
        return Subject(where, KINDS[target.group(1).lower()], target.group(3), "the question")
    return Subject(where, why="the question")


def for_run(kind: str, question: str, alert: dict[str, Any] | None) -> Subject:
    if kind == "schedule":
        return survey("a scheduled survey")
    if alert:
        return from_alert(alert)
    return from_question(question)
