"""One pass of every registered analyzer over a run's subject."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autodevops.clients.core.pool import McpPool

from .alerts import alert_series
from .findings import SEVERITIES, Finding
from .reader import AnalyzerScope, Reader
from .registry import ANALYZERS
from .subject import Subject, survey


@dataclass
class Diagnosis:
    """What the analyzers found about the subject, and what they could not read: evidence
    missing makes the run partial."""

    subject: Subject
    findings: list[Finding]
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    calls: int = 0
    paced_seconds: float = 0.0


def _rank(finding: Finding) -> tuple[int, bool]:
    """Most severe first; at equal severity a cause found by an analyzer before the alert
    that reported the symptom."""
    severity = SEVERITIES.index(finding.severity) if finding.severity in SEVERITIES else 3
    return severity, finding.analyzer == "alert"


def _about(subject: Subject, finding: Finding) -> bool:
    if finding.analyzer == "alert" and not finding.name:
        return subject.survey or finding.namespace == subject.namespace
    return subject.covers(finding.namespace, finding.name)


async def diagnose(
    pool: McpPool,
    scope: AnalyzerScope,
    subject: Subject,
    alert: dict[str, Any] | None = None,
) -> Diagnosis:
    reader = Reader(pool, scope, subject)
    for analyzer in ANALYZERS:
        reader.findings += await analyzer(reader)
    if alert:
        reader.findings += await alert_series(reader, alert, reader.findings)
    findings = sorted((f for f in reader.findings if _about(subject, f)), key=_rank)
    return Diagnosis(
        subject,
        findings,
        list(dict.fromkeys(reader.missing)),
        list(dict.fromkeys(reader.notes)),
        reader.calls,
        reader.paced_seconds,
    )


async def run_analyzers(
    pool: McpPool,
    scope: AnalyzerScope,
    alert: dict[str, Any] | None = None,
    subject: Subject | None = None,
) -> tuple[list[Finding], list[str]]:
    """Every analyzer over the subject (without one, a survey of the scope): findings most
    severe first, and the evidence that could not be read."""
    done = await diagnose(pool, scope, subject or survey("no subject given"), alert)
    return done.findings, done.missing
