"""Prometheus: the alerts firing now, and the series behind an Alertmanager alert."""

from __future__ import annotations

from typing import Any

from autodevops.servers.core.output import split_labels

from .findings import SEVERITIES, Evidence, Finding, head
from .reader import Reader, parse_rows


def _severity(labels: dict[str, str]) -> str:
    """A firing alert deserves a look even when its rule names no (or an odd) severity."""
    value = labels.get("severity", "").lower()
    return value if value in SEVERITIES else "warning"


def _alert_subject(name: str, labels: dict[str, str]) -> str:
    where = labels.get("namespace")
    return f"Alert {name}" + (f" in {where}" if where else "")


async def alerts(reader: Reader) -> list[Finding]:
    """Alerts Prometheus is firing now about the run's subject (in a survey: its namespaces,
    and cluster-wide ones)."""
    arguments = {"state": "firing"}
    text = await reader.call("alerts", "prometheus__alerts", arguments)
    if text is None:
        return []
    table = parse_rows("prometheus__alerts", arguments, text)
    findings = []
    for row in table.rows:
        labels = split_labels(row.cells.get("LABELS", ""))
        namespace, scoped = labels.get("namespace"), reader.scope.namespaces
        if not reader.subject.survey and namespace != reader.subject.namespace:
            continue
        if scoped is not None and namespace is not None and namespace not in scoped:
            continue
        name, severity = row.cells.get("ALERT", ""), row.cells.get("SEVERITY", "")
        findings.append(
            Finding(
                analyzer="alert",
                severity=_severity({"severity": severity}),
                subject=_alert_subject(name, labels),
                summary=f"{name} firing since {row.cells.get('SINCE', '?')}: "
                + (row.cells.get("SUMMARY") or ",".join(f"{k}={v}" for k, v in labels.items())),
                likely_cause=row.cells.get("SUMMARY") or "see the alert's rule and its series",
                evidence=[table.evidence([row])],
                namespace=namespace or "",
            )
        )
    return findings


async def alert_series(
    reader: Reader, payload: dict[str, Any], findings: list[Finding]
) -> list[Finding]:
    """The series behind each alert of an Alertmanager payload: a query for its labels. It
    joins the firing-alert finding of the same alert, or becomes a finding of its own."""
    listed = payload.get("alerts")
    entries: list[dict[str, Any]] = listed if isinstance(listed, list) else [payload]
    new = []
    for entry in entries:
        labels = {str(k): str(v) for k, v in (entry.get("labels") or {}).items()}
        name = labels.pop("alertname", "")
        severity = _severity(labels)
        labels.pop("severity", None)
        if not name or entry.get("status", "firing") != "firing":
            continue
        arguments = {
            "query": _selector(labels) if labels else "ALERTS" + _selector({"alertname": name})
        }
        text = await reader.call("series behind the alert", "prometheus__query", arguments)
        if text is None:
            continue
        evidence = Evidence("prometheus__query", arguments, head(text))
        subject = _alert_subject(name, labels)
        same = next((f for f in findings if f.analyzer == "alert" and f.subject == subject), None)
        if same is not None:
            same.evidence.append(evidence)
            continue
        summary = (entry.get("annotations") or {}).get("summary", "")
        new.append(
            Finding(
                analyzer="alert",
                severity=severity,
                subject=subject,
                summary=f"{name} firing" + (f": {summary}" if summary else ""),
                likely_cause=summary or "see the series behind the alert",
                evidence=[evidence],
                namespace=labels.get("namespace", ""),
            )
        )
    return new


def _selector(labels: dict[str, str]) -> str:
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "{" + ",".join(f"{k}={quoted(v)}" for k, v in sorted(labels.items())) + "}"
