"""Deployments whose rollout failed, Services without ready endpoints."""

from __future__ import annotations

from typing import Any

from autodevops.clients.core.pool import McpPool
from autodevops.clients.scarlet.analyzers import (
    ProposedAction,
)
from tests.clients.scarlet.analyzers.cluster import (
    ROLL,
    SVC,
    analyze,
    condition,
    get_deployment,
)
from tests.kube_helpers import wait_for


async def test_a_failed_rollout_with_a_previous_revision_proposes_a_rollback(
    pool: McpPool,
) -> None:
    findings, notes = await analyze(pool, ROLL)
    assert notes == []
    (rollout,) = [f for f in findings if f.analyzer == "rollout"]
    assert (rollout.subject, rollout.severity) == (f"Deployment {ROLL}/api", "critical")
    assert rollout.summary.startswith(f"rollout of Deployment {ROLL}/api failed: ")
    assert "ProgressDeadlineExceeded" in rollout.evidence[0].excerpt
    status = rollout.evidence[1]
    assert status.tool == "kubernetes__rollout_status" and status.arguments["output"] == "json"
    assert status.excerpt.startswith(f"{ROLL}/api: state failed, revisions ")
    assert "{'revision': 1, 'images': ['api:1']}" in status.excerpt
    assert "{'revision': 2, 'images': ['api:2']}" in status.excerpt
    assert rollout.proposed_actions == [
        ProposedAction(
            "kubernetes__rollback",
            {"name": "api", "namespace": ROLL, "revision": 1},
            f"return Deployment {ROLL}/api to revision 1, the last one before the stuck revision 2",
        )
    ]


def _available(kube: Any, namespace: str, name: str) -> bool:
    found = get_deployment(kube, namespace, name)
    return bool(
        found["status"].get("availableReplicas") == found["spec"]["replicas"]
        and condition(found, "Available").get("status") == "True"
    )


async def test_a_service_without_ready_endpoints(cluster: Any, pool: McpPool) -> None:
    # The module's cluster was set up minutes ago; on a loaded machine the controllers may
    # still be catching up with `served`, which would then rightly be a rollout finding.
    wait_for(lambda: _available(cluster, SVC, "served"), "served to be available")
    findings, notes = await analyze(pool, SVC)
    assert notes == []
    served = get_deployment(cluster, SVC, "served")["status"]
    assert [f.subject for f in findings] == [f"Service {SVC}/lonely"], served
    (lonely,) = findings
    assert lonely.analyzer == "service_endpoints"
    assert lonely.likely_cause == "no pod matches its selector app=lonely"
    service, endpoints = lonely.evidence
    assert service.excerpt == f'{SVC}/lonely: {{"selector": {{"app": "lonely"}}}}'
    assert endpoints.arguments["kind"] == "endpointslices.discovery.k8s.io"
    assert endpoints.excerpt.startswith(f"{SVC}/lonely-")
    assert endpoints.excerpt.endswith('{"endpoints": []}')
