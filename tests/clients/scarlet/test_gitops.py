"""Scarlet's Argo CD analyzer through a real argocd MCP server (HTTP, API mode) over the fake
Argo CD API server: what it names, how severe, what it proposes, and what it says when it
cannot read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.clients.scarlet.analyzers import AnalyzerScope, Finding
from autodevops.clients.scarlet.gitops import argocd_findings, with_argocd_findings
from devstack.services import McpServer, start_mcp_server
from tests.fakes.fake_argocd import FakeArgoCD
from tests.servers.argocd.data import POLICY, application, applications

TOKEN = "scarlet-token-0123456789"
ARGOCD_TOKEN = "argocd-token-0123456789"
DRIFT = {
    "kind": "ConfigMap",
    "namespace": "team-a",
    "name": "drift-config",
    "status": "OutOfSync",
}


@pytest.fixture
def fake() -> Iterator[FakeArgoCD]:
    with FakeArgoCD({ARGOCD_TOKEN: "p, role:all, applications, *, */*, allow"}) as fake:
        for app in applications():
            fake.add(app)
        fake.add(
            application("team-a-drift", "team-a", "team-a", sync="OutOfSync", resources=[DRIFT])
        )
        yield fake


@pytest.fixture
def server(fake: FakeArgoCD, tmp_path: Path) -> Iterator[McpServer]:
    token = tmp_path / "argocd.token"
    token.write_text(ARGOCD_TOKEN)
    policy = {**POLICY, "roles": {"scarlet": POLICY["roles"]["team-a"]}}
    entries = [{"token": TOKEN, "subject": "scarlet", "roles": ["scarlet"]}]
    started = start_mcp_server(
        tmp_path,
        "argocd",
        policy,
        entries,
        "--argocd-url",
        fake.url,
        "--argocd-token-file",
        str(token),
    )
    yield started
    started.process.terminate()
    started.process.wait(timeout=10)


@pytest.fixture
async def pool(server: McpServer) -> AsyncIterator[McpPool]:
    async with McpPool([HttpEndpoint("argocd", server.url, TOKEN)]) as pool:
        yield pool


def by_subject(findings: list[Finding]) -> dict[str, Finding]:
    return {f.subject: f for f in findings}


async def test_degraded_and_drifted_applications(pool: McpPool) -> None:
    findings, notes = await argocd_findings(pool, AnalyzerScope())
    assert notes == []
    found = by_subject(findings)
    assert sorted(found) == ["Application team-a-api", "Application team-a-drift"]
    api = found["Application team-a-api"]
    assert api.analyzer == "argocd" and api.severity == "critical"
    assert api.summary.startswith(
        "team-a-api (project team-a, in-cluster/team-a) is OutOfSync and Degraded at c3d4e5f6: "
        'Deployment team-a/api OutOfSync, Degraded (Deployment "api" exceeded its progress '
        "deadline); ConfigMap team-a/api-config OutOfSync"
    )
    assert api.likely_cause == (
        "the last sync failed: one or more objects failed to apply, reason: Deployment.apps "
        '"api" is invalid; Deployment team-a/api: spec.template.spec.containers[0].image: '
        "Required value"
    )
    assert api.proposed_actions == []
    assert [e.tool for e in api.evidence] == [
        "argocd__list_applications",
        "argocd__get_application",
    ]
    assert "team-a-api" in api.evidence[0].excerpt
    drift = found["Application team-a-drift"]
    assert drift.severity == "info"
    assert drift.likely_cause == "the live state drifted from git (no failed operation)"
    [proposal] = drift.proposed_actions
    assert proposal.tool == "argocd__sync_application"
    assert proposal.arguments == {"name": "team-a-drift", "prune": False}


async def test_the_run_scope_limits_destinations(pool: McpPool) -> None:
    assert await argocd_findings(pool, AnalyzerScope(["team-b"])) == ([], [])


async def test_merged_most_severe_first(pool: McpPool) -> None:
    other = Finding("alert", "warning", "Alert X", "x", "y", [])
    merged, notes = await with_argocd_findings(pool, AnalyzerScope(), [other], ["a note"])
    assert [f.severity for f in merged] == ["critical", "warning", "info"]
    assert notes == ["a note"]


async def test_without_an_argocd_server_nothing_is_said() -> None:
    async with McpPool([]) as pool:
        assert await argocd_findings(pool, AnalyzerScope()) == ([], [])


async def test_argocd_refusing_is_a_note(pool: McpPool, fake: FakeArgoCD) -> None:
    fake.tokens.clear()  # Argo CD now refuses the server's token
    findings, notes = await argocd_findings(pool, AnalyzerScope())
    assert findings == []
    assert len(notes) == 1 and notes[0].startswith("Argo CD applications unavailable: Argo CD API")
    assert "HTTP 401" in notes[0]
