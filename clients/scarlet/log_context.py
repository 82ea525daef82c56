"""Log lines for Scarlet's findings: what a dying container said last, and what a namespace's
pods logged around an alert's start.

A crash-looping or OOM-killed container's last lines come from Loki when Scarlet's pool
offers its `query_logs` (the pod may already be gone), else from the Kubernetes server's
`pod_logs` of the previous container. Streams are found by the labels Promtail and Grafana
Alloy give Kubernetes logs (`namespace`, `pod`, `container`). Every read goes through the
MCP pool, inside Scarlet's policy; one that is refused or fails becomes a note.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from autodevops.clients.core.pool import McpPool
from autodevops.servers.loki.tools import log_lines

from .analyzers import SEVERITIES, Evidence, Finding

LOKI_LOGS = "loki__query_logs"
KUBE_LOGS = "kubernetes__pod_logs"
LAST_LINES = 20
PODS_PER_FINDING = 2
# Logs are context, not the diagnosis: each read is bounded, and so are all of them together
# (a pod on a node that is gone can hold a log read until its time limit).
CALL_SECONDS = 10.0
TOTAL_SECONDS = 30.0
AROUND_ALERT = timedelta(minutes=5)
ERROR_LINES = '|~ "(?i)(error|fatal|panic|exception|traceback|oom)"'
DYING = ("crashloop", "oom")


async def add_log_lines(
    pool: McpPool, findings: list[Finding], alert: dict[str, Any] | None
) -> list[str]:
    """Adds log evidence to the findings it concerns; returns notes on what it could not read."""
    notes: list[str] = []
    try:
        async with asyncio.timeout(TOTAL_SECONDS):
            await _add(pool, findings, alert, notes)
    except TimeoutError:
        notes.append(f"log lines: stopped after {TOTAL_SECONDS:g}s; some findings have none")
    return notes


async def _add(
    pool: McpPool, findings: list[Finding], alert: dict[str, Any] | None, notes: list[str]
) -> None:
    for finding in findings:
        if finding.analyzer in DYING:
            for namespace, pod, container in _containers(finding)[:PODS_PER_FINDING]:
                evidence = await _last_lines(pool, namespace, pod, container, notes)
                if evidence is not None:
                    finding.evidence.append(evidence)
    for entry in _alert_entries(alert):
        evidence = await _alert_lines(pool, entry, notes)
        if evidence is None:
            continue
        labels = entry.get("labels") or {}
        subject = f"Alert {labels.get('alertname', '')} in {labels['namespace']}"
        same = next((f for f in findings if f.analyzer == "alert" and f.subject == subject), None)
        if same is not None:
            same.evidence.append(evidence)
            continue
        severity = str(labels.get("severity", "")).lower()
        findings.append(
            Finding(
                analyzer="alert",
                severity=severity if severity in SEVERITIES else "warning",
                subject=subject,
                summary=f"{labels.get('alertname', '')} firing",
                likely_cause="see the error lines its namespace logged when it started",
                evidence=[evidence],
            )
        )


def _containers(finding: Finding) -> list[tuple[str, str, str]]:
    """(namespace, pod, container) of each pod the finding quotes as `ns/pod: {status}`."""
    found = []
    for evidence in finding.evidence:
        where, _, detail = evidence.excerpt.partition(": ")
        namespace, _, pod = where.partition("/")
        try:
            container = json.loads(detail).get("name")
        except (ValueError, AttributeError):
            continue
        if namespace and pod and isinstance(container, str):
            found.append((namespace, pod, container))
    return found


def _selector(**labels: str) -> str:
    return "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in labels.items()) + "}"


async def _last_lines(
    pool: McpPool, namespace: str, pod: str, container: str, notes: list[str]
) -> Evidence | None:
    where = f"{namespace}/{pod} ({container})"
    if pool.tool(LOKI_LOGS) is not None:
        arguments: dict[str, Any] = {
            "query": _selector(namespace=namespace, pod=pod, container=container),
            "limit": LAST_LINES,
        }
        result = await pool.call(LOKI_LOGS, arguments, time_limit=CALL_SECONDS)
        lines = log_lines(result.text) if result.outcome == "ok" else []
        if lines:
            excerpt = f"last {len(lines)} lines of {where}, from Loki:\n" + "\n".join(lines[::-1])
            return Evidence(LOKI_LOGS, arguments, excerpt)
        if result.outcome != "ok":
            notes.append(f"logs of {where} from Loki unavailable: {_first_line(result.text)}")
    if pool.tool(KUBE_LOGS) is None:
        return None
    for previous in (True, False):
        arguments = {
            "name": pod,
            "namespace": namespace,
            "container": container,
            "previous": previous,
            "tail_lines": LAST_LINES,
        }
        result = await pool.call(KUBE_LOGS, arguments, time_limit=CALL_SECONDS)
        if result.outcome == "ok":
            which = "the previous container" if previous else "the running container"
            excerpt = f"last lines of {where}, {which}:\n{result.text}"
            return Evidence(KUBE_LOGS, arguments, excerpt)
    notes.append(f"logs of {where} unavailable: {_first_line(result.text)}")
    return None


def _alert_entries(alert: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The firing alerts of a payload that name a namespace and a start."""
    if not alert:
        return []
    listed = alert.get("alerts")
    entries: list[dict[str, Any]] = listed if isinstance(listed, list) else [alert]
    return [
        e
        for e in entries
        if isinstance(e, dict)
        and e.get("status", "firing") == "firing"
        and (e.get("labels") or {}).get("namespace")
        and e.get("startsAt")
    ]


async def _alert_lines(pool: McpPool, entry: dict[str, Any], notes: list[str]) -> Evidence | None:
    if pool.tool(LOKI_LOGS) is None:
        return None
    namespace = str(entry["labels"]["namespace"])
    try:
        started = datetime.fromisoformat(str(entry["startsAt"]).replace("Z", "+00:00"))
    except ValueError:
        return None
    arguments: dict[str, Any] = {
        "query": f"{_selector(namespace=namespace)} {ERROR_LINES}",
        "start": _rfc3339(started - AROUND_ALERT),
        "end": _rfc3339(min(started + AROUND_ALERT, datetime.now(UTC))),
        "direction": "oldest_first",
        "limit": LAST_LINES,
    }
    result = await pool.call(LOKI_LOGS, arguments, time_limit=CALL_SECONDS)
    if result.outcome != "ok":
        notes.append(f"error lines of {namespace} unavailable: {_first_line(result.text)}")
        return None
    lines = log_lines(result.text)
    if not lines:
        return None
    excerpt = f"error lines in {namespace} around the alert's start, from Loki:\n" + "\n".join(
        lines
    )
    return Evidence(LOKI_LOGS, arguments, excerpt)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["no detail"])[0]
