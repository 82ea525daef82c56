"""Pod-level faults: crash loops, OOM kills, image pulls, missing configuration, pending pods."""

from __future__ import annotations

from autodevops.clients.core.pool import McpPool
from autodevops.clients.scarlet.analyzers import (
    ProposedAction,
)
from devstack.services import McpServer, audit_lines
from tests.clients.scarlet.analyzers.cluster import (
    CRASH,
    PODS,
    READ,
    analyze,
    by_subject,
)


async def test_a_crash_loop_on_a_dependency_gets_evidence_and_a_restart_proposal(
    pool: McpPool, kubernetes_server: McpServer
) -> None:
    findings, notes = await analyze(pool, CRASH)
    assert notes == []
    crash = by_subject(findings, "crashloop")
    assert list(crash) == [f"Deployment {CRASH}/web"]
    finding = crash[f"Deployment {CRASH}/web"]
    assert finding.severity == "critical"
    assert finding.summary.startswith("2 pods (web-")
    assert finding.summary.endswith("crash-looping, container app restarted 6 times")
    assert finding.likely_cause == (
        "the container exits when a dependency fails (exit code 1 (Error)): "
        "'dial tcp 10.96.0.7:5432: connect: connection refused'"
    )
    assert len(finding.evidence) == 2
    for evidence in finding.evidence:
        assert evidence.tool == "kubernetes__list_resources"
        assert evidence.arguments["kind"] == "pods" and evidence.arguments["namespace"] == CRASH
        assert evidence.excerpt.startswith(f"{CRASH}/web-")
        assert '"reason": "CrashLoopBackOff"' in evidence.excerpt
        assert '"restartCount": 6' in evidence.excerpt
    assert finding.proposed_actions == [
        ProposedAction(
            "kubernetes__rollout_restart",
            {"kind": "Deployment", "name": "web", "namespace": CRASH},
            f"restart Deployment {CRASH}/web once its dependency answers again, to skip the "
            "crash-loop back-off",
        )
    ]
    assert not by_subject(findings, "rollout"), "the crash loop already names the Deployment"
    assert findings[0].analyzer == "crashloop", "most severe first"
    calls = [
        (line["tool"], line["arguments"], line["decision"])
        for line in audit_lines(kubernetes_server.audit_log)
        if line["subject"] == "scarlet"
    ]
    pods = {"kind": "pods", "output": "json", "namespace": CRASH, "limit": 200}
    assert ("list_resources", pods, "allow") in calls, "audited under Scarlet's own identity"
    assert all(tool in READ for tool, _, _ in calls), "analyzers only read"


async def test_pod_level_failures_each_get_their_finding(pool: McpPool) -> None:
    findings, notes = await analyze(pool, PODS)
    assert notes == []
    oom = by_subject(findings, "oom")[f"Pod {PODS}/hungry"]
    assert oom.severity == "warning"
    assert oom.summary == "1 pod (hungry): container app was OOMKilled"
    assert "memory limit 64Mi" in oom.likely_cause
    assert '"exitCode": 137, "reason": "OOMKilled"' in oom.evidence[0].excerpt

    pull = by_subject(findings, "image_pull")[f"Pod {PODS}/puller"]
    assert pull.summary == "1 pod (puller) cannot pull image puller:1"
    assert pull.likely_cause.startswith('Back-off pulling image "puller:1": not found')
    assert '"reason": "ImagePullBackOff"' in pull.evidence[0].excerpt

    missing = by_subject(findings, "missing_config")
    assert set(missing) == {f"Pod {PODS}/configless", f"Pod {PODS}/mountless"}
    configless = missing[f"Pod {PODS}/configless"]
    assert configless.summary == (
        f"pod configless cannot start: ConfigMap {PODS}/app-settings missing"
    )
    assert '"reason": "CreateContainerConfigError"' in configless.evidence[0].excerpt
    assert "A restart cannot fix it" in configless.remedy and not configless.proposed_actions
    mountless = missing[f"Pod {PODS}/mountless"]
    assert f"ConfigMap {PODS}/mount-settings missing" in mountless.summary
    (event,) = mountless.evidence
    assert event.tool == "kubernetes__list_resources"
    assert event.arguments == {
        "kind": "events",
        "output": "json",
        "namespace": PODS,
        "field_selector": "type=Warning",
        "limit": 200,
    }
    assert event.excerpt.startswith(f"{PODS}/mountless.failedmount: ")
    assert '"object": "Pod/mountless"' in event.excerpt
    assert 'configmap \\"mount-settings\\" not found' in event.excerpt

    pending = by_subject(findings, "pending")
    assert set(pending) == {f"Pod {PODS}/nowhere", f"Pod {PODS}/unseen", f"Pod {PODS}/claimless"}
    nowhere = pending[f"Pod {PODS}/nowhere"]
    assert "didn't match Pod's node affinity/selector" in nowhere.summary
    assert nowhere.likely_cause.startswith(
        "nodeSelector type=sc-an-none: no node has this label (type on the nodes: "
    )
    assert nowhere.evidence[-1].arguments["kind"] == "nodes"
    claimless = pending[f"Pod {PODS}/claimless"]
    assert claimless.likely_cause == f"PVC {PODS}/data-missing does not exist"
    assert '"reason": "Unschedulable"' in nowhere.evidence[0].excerpt
    unseen = pending[f"Pod {PODS}/unseen"]
    assert unseen.summary.endswith("0/2 nodes are available: 2 Insufficient cpu.")
    assert unseen.likely_cause == "the scheduler says: 0/2 nodes are available: 2 Insufficient cpu."
    assert [e.arguments["kind"] for e in unseen.evidence] == ["events"]
    assert all(not f.proposed_actions for f in findings), "no write for a bare pod"
