"""Reads that fail or are cut: named as missing evidence, never dropped silently."""

from __future__ import annotations

from autodevops.clients.core.pool import McpPool
from devstack.services import McpServer, audit_lines
from tests.clients.scarlet.analyzers.cluster import (
    NAMESPACES,
    NO_EVENTS,
    PODS,
    SMALL,
    TINY,
    analyze,
    by_subject,
    scarlet_pool,
)


async def test_refused_reads_are_named_as_missing_evidence(
    kubernetes_server: McpServer, prometheus_server: McpServer
) -> None:
    async with scarlet_pool(kubernetes_server, prometheus_server, NO_EVENTS) as pool:
        findings, notes = await analyze(pool, PODS, "kube-system")
    outside = f"is outside your scope (allowed: {', '.join(NAMESPACES)})"
    assert notes[0] == f"pods in kube-system unavailable: namespace 'kube-system' {outside}"
    assert notes[1].startswith(f"warning events in {PODS} unavailable: ")
    assert f"deployments in kube-system unavailable: namespace 'kube-system' {outside}" in notes
    pending = by_subject(findings, "pending")
    assert f"Pod {PODS}/nowhere" in pending, "the scheduler's condition is still read"
    assert f"Pod {PODS}/unseen" not in pending, "its only evidence was an event"
    assert f"Pod {PODS}/hungry" in by_subject(findings, "oom")


async def test_pages_cut_by_the_byte_limit_are_asked_again_sized_to_fit(
    pool: McpPool, kubernetes_server: McpServer, prometheus_server: McpServer
) -> None:
    whole, _ = await analyze(pool, PODS)
    async with scarlet_pool(kubernetes_server, prometheus_server, SMALL) as small:
        findings, notes = await analyze(small, PODS)
    assert notes == []
    assert [(f.analyzer, f.subject) for f in findings] == [(f.analyzer, f.subject) for f in whole]
    pages = [
        line["arguments"]
        for line in audit_lines(kubernetes_server.audit_log)
        if line["subject"] == "scarlet-small-pages" and line["arguments"].get("kind") == "pods"
    ]
    assert pages[0]["limit"] == 200 and all(p["limit"] < 10 for p in pages[1:])
    assert any("continue_from" in page for page in pages), "later pages were followed"
    assert len(pages) <= 6, "a handful of calls, not one per object"


async def test_a_list_that_cannot_be_read_whole_is_named_as_missing(
    pool: McpPool, kubernetes_server: McpServer, prometheus_server: McpServer
) -> None:
    whole, _ = await analyze(pool, PODS)
    async with scarlet_pool(kubernetes_server, prometheus_server, TINY) as tiny:
        findings, notes = await analyze(tiny, PODS)
    assert any(n.startswith(f"pods in {PODS} unreadable: ") for n in notes), notes
    assert {(f.analyzer, f.subject) for f in findings} < {(f.analyzer, f.subject) for f in whole}
