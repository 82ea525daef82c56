"""Firing alerts, and the series behind an Alertmanager alert."""

from __future__ import annotations

from autodevops.clients.core.pool import McpPool
from devstack.services import McpServer, audit_lines
from tests.clients.scarlet.analyzers.cluster import (
    CRASH,
    PODS,
    SVC,
    analyze,
    by_subject,
)


async def test_firing_alerts_and_the_series_behind_an_alertmanager_alert(
    pool: McpPool, prometheus_server: McpServer
) -> None:
    payload = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "AutodevopsTestHighErrors",
                    "namespace": "team-a",
                    "code": "500",
                    "severity": "warning",
                },
                "annotations": {},
            },
            {
                "status": "firing",
                "labels": {
                    "alertname": "AutodevopsTestQueueBacklog",
                    "namespace": "team-b",
                    "job": "exporter",
                    "severity": "critical",
                },
                "annotations": {"summary": "Queue backlog in team-b"},
            },
            {"status": "resolved", "labels": {"alertname": "AutodevopsTestGone"}},
        ],
    }
    findings, notes = await analyze(pool, alert=payload)
    assert notes == []
    alerts = by_subject(findings, "alert")
    assert set(alerts) == {
        "Alert AutodevopsTestHighErrors in team-a",
        "Alert AutodevopsTestHighErrors in team-b",
        "Alert AutodevopsTestQueueBacklog in team-b",
    }
    backlog = alerts["Alert AutodevopsTestQueueBacklog in team-b"]
    assert backlog.severity == "critical"
    ranks = [("critical", "warning", "info").index(f.severity) for f in findings]
    assert ranks == sorted(ranks), "most severe first"
    assert backlog.summary == "AutodevopsTestQueueBacklog firing: Queue backlog in team-b"
    (queue,) = backlog.evidence
    assert queue.arguments == {"query": '{job="exporter",namespace="team-b"}'}
    depth = next(line for line in queue.excerpt.splitlines() if "queue_depth" in line)
    assert depth.split()[-1] == "7"
    team_a = alerts["Alert AutodevopsTestHighErrors in team-a"]
    assert team_a.severity == "warning"
    assert team_a.summary.startswith("AutodevopsTestHighErrors firing since ")
    firing, series = team_a.evidence
    assert firing.tool == "prometheus__alerts" and firing.arguments == {"state": "firing"}
    assert "namespace=team-a" in firing.excerpt.splitlines()[1]
    assert series.tool == "prometheus__query"
    assert series.arguments == {"query": '{code="500",namespace="team-a"}'}
    row = next(
        line for line in series.excerpt.splitlines() if "autodevops_test_requests_total" in line
    )
    assert row.split()[-1] == "5"
    assert len(alerts["Alert AutodevopsTestHighErrors in team-b"].evidence) == 1
    # Every namespace the role may list was read, across the whole scope.
    subjects = {f.subject for f in findings}
    assert {f"Deployment {CRASH}/web", f"Pod {PODS}/hungry", f"Service {SVC}/lonely"} <= subjects
    queried = [line for line in audit_lines(prometheus_server.audit_log) if line["tool"]]
    assert {line["tool"] for line in queried} == {"alerts", "query"}


async def test_alerts_outside_the_namespaces_are_left_out_unless_they_started_the_run(
    pool: McpPool,
) -> None:
    findings, _ = await analyze(pool, SVC)
    assert not [f for f in findings if f.analyzer == "alert"]
    one_alert = {  # as Scarlet's webhook stores each alert of a payload
        "status": "firing",
        "labels": {"alertname": "AutodevopsTestHighErrors", "namespace": "team-b", "code": "500"},
        "annotations": {"summary": "errors in team-b"},
        "fingerprint": "0123456789abcdef",
    }
    findings, notes = await analyze(pool, SVC, alert=one_alert)
    assert notes == []
    (alert,) = [f for f in findings if f.analyzer == "alert"]
    assert (alert.subject, alert.severity) == (
        "Alert AutodevopsTestHighErrors in team-b",
        "warning",
    )
    assert alert.evidence[0].arguments == {"query": '{code="500",namespace="team-b"}'}
    assert "autodevops_test_requests_total" in alert.evidence[0].excerpt
