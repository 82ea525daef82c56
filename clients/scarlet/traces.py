"""Traces for latency and error-rate alerts: when Tempo is configured, a run's report gets the
slowest or failing traces of the alert's namespace, each read as a summary (critical path,
errors), as findings with their evidence.

Only alerts that say they are about latency or errors (their name, labels or summary) and
that name a namespace are followed; the TraceQL is built from those labels, quoted, and the
Tempo server still forces it inside Scarlet's own scope.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from autodevops.clients.core.pool import McpPool
from autodevops.servers.core.output import parse_table

from .analyzers import Evidence, Finding

SEARCH = "tempo__search_traces"
GET = "tempo__get_trace"
TRACES_READ = 2
SUMMARY_LINES = 30
_LATENCY = re.compile(r"latenc|slow|duration|p9[059]|response.?time", re.I)
_ERRORS = re.compile(r"error|5xx|fail|exception", re.I)
_NAMESPACE_LABELS = ("namespace", "k8s_namespace_name", "exported_namespace")
_SERVICE_LABELS = ("service", "service_name", "app")
_LOOKBACK = timedelta(minutes=30)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _kind(name: str, labels: dict[str, str], summary: str) -> str | None:
    text = " ".join([name, summary, *labels.values()])
    if _ERRORS.search(text):
        return "errors"
    if _LATENCY.search(text):
        return "latency"
    return None


def _query(kind: str, namespace: str, service: str | None) -> str:
    conditions = [f"resource.k8s.namespace.name = {_quoted(namespace)}"]
    if service:
        conditions.append(f"resource.service.name = {_quoted(service)}")
    conditions.append("status = error" if kind == "errors" else "kind = server")
    return "{ " + " && ".join(conditions) + " }"


def _start(entry: dict[str, Any]) -> str:
    try:
        began = datetime.fromisoformat(str(entry.get("startsAt", "")).replace("Z", "+00:00"))
    except ValueError:
        began = datetime.now(UTC)
    return (min(began, datetime.now(UTC)) - _LOOKBACK).strftime("%Y-%m-%dT%H:%M:%SZ")


def _head(text: str) -> str:
    lines = text.splitlines()
    return "\n".join(lines[:SUMMARY_LINES] + (["…"] if len(lines) > SUMMARY_LINES else []))


def _cause(summary: str, kind: str) -> str:
    """The summary's deepest error (listed last, parents first), or for latency the step
    holding the trace up longest."""
    lines = summary.splitlines()
    section = "errors (" if kind == "errors" else "critical path ("
    start = next((i for i, line in enumerate(lines) if line.startswith(section)), None)
    if start is None or start + 1 >= len(lines):
        return "see the traces"
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        detail = kind == "errors" and line.startswith("    ")  # of the error line above
        if not detail:
            body.append(line.strip())
    if kind == "errors":
        spans = [line for line in body if not line.startswith("(")]
        return spans[-1] if spans else "see the traces"
    steps = [line for line in body if " of " in line]
    return max(steps, key=_step_seconds, default="see the traces")


def _step_seconds(line: str) -> float:
    amount = line.split()[0]
    if amount.endswith("ms"):
        return float(amount[:-2]) / 1000
    return float(amount.rstrip("s")) if amount.rstrip("s").replace(".", "").isdigit() else 0.0


async def trace_findings(
    pool: McpPool, alert: dict[str, Any] | None
) -> tuple[list[Finding], list[str]]:
    """Findings from the traces behind the alert's entries, and notes on what could not be
    read; nothing when the pool offers no Tempo tools or the alert is about something else."""
    if not alert or pool.tool(SEARCH) is None:
        return [], []
    listed = alert.get("alerts")
    entries: list[dict[str, Any]] = listed if isinstance(listed, list) else [alert]
    findings: list[Finding] = []
    notes: list[str] = []
    for entry in entries:
        if entry.get("status", "firing") != "firing":
            continue
        labels = {str(k): str(v) for k, v in (entry.get("labels") or {}).items()}
        name = labels.pop("alertname", "")
        summary = str((entry.get("annotations") or {}).get("summary", ""))
        kind = _kind(name, labels, summary)
        namespace = next((labels[k] for k in _NAMESPACE_LABELS if labels.get(k)), None)
        if kind is None or namespace is None:
            continue
        service = next((labels[k] for k in _SERVICE_LABELS if labels.get(k)), None)
        finding = await _finding(pool, kind, name, labels, namespace, service, _start(entry))
        if isinstance(finding, str):
            notes.append(finding)
        elif finding is not None:
            findings.append(finding)
    return findings, notes


async def _finding(
    pool: McpPool,
    kind: str,
    name: str,
    labels: dict[str, str],
    namespace: str,
    service: str | None,
    start: str,
) -> Finding | str | None:
    """A finding, a note saying why the traces could not be read, or None when none match."""
    arguments: dict[str, Any] = {
        "query": _query(kind, namespace, service),
        "start": start,
        "limit": 20,
        "order": "slowest" if kind == "latency" else "recent",
    }
    result = await pool.call(SEARCH, arguments)
    if result.outcome != "ok":
        return f"traces for {name} unavailable: {result.text.strip().splitlines()[0]}"
    rows = parse_table(result.text).records()
    if not rows:
        return None
    evidence = [Evidence(SEARCH, arguments, _head(result.text))]
    cause = "see the traces"
    for row in rows[:TRACES_READ]:
        trace_arguments = {"trace_id": row["TRACE ID"]}
        read = await pool.call(GET, trace_arguments)
        if read.outcome != "ok":
            continue
        evidence.append(Evidence(GET, trace_arguments, _head(read.text)))
        if cause == "see the traces":
            cause = _cause(read.text, kind)
    first = rows[0]
    what = "failing" if kind == "errors" else "slowest"
    where = f"{namespace}/{service}" if service else namespace
    return Finding(
        analyzer="traces",
        severity=labels.get("severity", "warning"),
        subject=where,
        summary=(
            f"{name}: {len(rows)} {what} traces in {where}; {first['ROOT']} took "
            f"{first['DURATION']} ({first['ERRORS'] or '?'} errors)"
        ),
        likely_cause=cause,
        evidence=evidence,
    )
