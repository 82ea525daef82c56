"""One pass of every registered analyzer over a run's scope."""

from __future__ import annotations

from typing import Any

from autodevops.clients.core.pool import McpPool

from .alerts import alert_series
from .findings import SEVERITIES, Finding
from .reader import AnalyzerScope, Reader
from .registry import ANALYZERS


async def run_analyzers(
    pool: McpPool, scope: AnalyzerScope, alert: dict[str, Any] | None = None
) -> tuple[list[Finding], list[str]]:
    """Every analyzer over the scope; findings most severe first, and notes on what could
    not be read (a refused or unavailable tool never ends the run)."""
    reader = Reader(pool, scope)
    findings: list[Finding] = []
    for analyzer in ANALYZERS:
        findings += await analyzer(reader)
    if alert:
        findings += await alert_series(reader, alert, findings)
    findings.sort(key=lambda f: SEVERITIES.index(f.severity) if f.severity in SEVERITIES else 3)
    return findings, list(dict.fromkeys(reader.notes))
