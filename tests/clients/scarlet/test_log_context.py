"""Log lines in Scarlet's findings: a dying container's last lines from Loki (through
`autodevops serve loki` over HTTP against the fake Loki), else from the Kubernetes server's
pod_logs against the local control plane; an alert's namespace's error lines around its start."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.clients.scarlet.analyzers import Evidence, Finding
from autodevops.clients.scarlet.log_context import add_log_lines
from devstack.services import McpServer, start_mcp_server
from tests.fakes.fake_loki import FakeLoki, fake_loki_server
from tests.kube_helpers import create_objects
from tests.servers.loki.conftest import LOKI_POLICY

__all__ = ["fake_loki_server"]  # a fixture, used by name

TOKEN = "scarlet-logs-token-0123456789"
KUBE_POLICY = {
    "server": "kubernetes",
    "roles": {
        "scarlet": {
            "tools": ["pod_logs"],
            "scope": {"namespaces": {"allow": ["kt-a"]}, "verbs": ["get", "list"]},
        }
    },
}


def _serve_loki(workdir: Path, url: str) -> McpServer:
    entries = [{"token": TOKEN, "subject": "scarlet", "roles": ["viewer"]}]
    return start_mcp_server(
        workdir, "loki", LOKI_POLICY, entries, "--loki-url", url, "--loki-tenant", "fake"
    )


@pytest.fixture(scope="module")
def cluster(kube: Any) -> Any:
    """The local control plane with the Kubernetes tests' objects (kt-a's web pods log)."""
    create_objects(kube)
    return kube


@pytest.fixture
def loki_server(fake_loki: FakeLoki, tmp_path: Path) -> Iterator[McpServer]:
    server = _serve_loki(tmp_path, fake_loki.url)
    yield server
    server.stop()


def dying(namespace: str, pod: str, container: str) -> Finding:
    """A finding as the crash-loop analyzer writes it: each pod quoted as `ns/pod: {status}`."""
    status = f'{namespace}/{pod}: {{"name": "{container}", "restartCount": 6}}'
    return Finding(
        analyzer="crashloop",
        severity="critical",
        subject=f"Deployment {namespace}/x",
        summary="crash-looping",
        likely_cause="it fails soon after start",
        evidence=[Evidence("kubernetes__list_resources", {"kind": "pods"}, status)],
    )


async def test_a_dying_containers_last_lines_come_from_loki(loki_server: McpServer) -> None:
    finding = dying("team-a", "worker-7d9f-x2k4q", "worker")
    async with McpPool([HttpEndpoint("loki", loki_server.url, TOKEN)]) as pool:
        notes = await add_log_lines(pool, [finding], None)
    assert notes == []
    evidence = finding.evidence[-1]
    assert evidence.tool == "loki__query_logs"
    assert evidence.arguments["query"] == (
        '{namespace="team-a", pod="worker-7d9f-x2k4q", container="worker"}'
    )
    lines = evidence.excerpt.splitlines()
    assert lines[0] == "last 4 lines of team-a/worker-7d9f-x2k4q (worker), from Loki:"
    assert lines[1].endswith("starting worker 3 of 4")
    assert lines[-1].endswith("fatal error: runtime: out of memory")


async def test_an_alerts_namespace_gets_its_error_lines_around_the_start(
    loki_server: McpServer,
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=12)
    alert = {
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "namespace": "team-a"},
                "startsAt": started.isoformat().replace("+00:00", "Z"),
            }
        ]
    }
    finding = Finding("alert", "warning", "Alert HighErrorRate in team-a", "firing", "", [])
    async with McpPool([HttpEndpoint("loki", loki_server.url, TOKEN)]) as pool:
        notes = await add_log_lines(pool, [finding], alert)
    assert notes == []
    [evidence] = finding.evidence
    assert evidence.excerpt.startswith("error lines in team-a around the alert's start")
    body = evidence.excerpt.splitlines()[1:]
    assert [("upstream call" in b, "retry failed" in b) for b in body] == [
        (True, False),
        (False, True),
    ]
    assert "abcdefghijklmnop" not in evidence.excerpt and "[REDACTED]" in evidence.excerpt
    others: list[Finding] = []
    async with McpPool([HttpEndpoint("loki", loki_server.url, TOKEN)]) as pool:
        await add_log_lines(pool, others, alert)
    [alone] = others
    assert (alone.analyzer, alone.severity, alone.subject) == (
        "alert",
        "warning",
        "Alert HighErrorRate in team-a",
    )
    assert alone.evidence[0].excerpt == evidence.excerpt


async def test_without_loki_lines_the_kubernetes_server_is_asked(
    cluster: Any, tmp_path: Path
) -> None:
    pods = cluster.request("GET", "/api/v1/namespaces/kt-a/pods?labelSelector=app%3Dweb")
    pod = pods["items"][0]
    name, container = pod["metadata"]["name"], pod["spec"]["containers"][0]["name"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{sock.getsockname()[1]}"
    (tmp_path / "loki").mkdir()
    loki = _serve_loki(tmp_path / "loki", down)
    entries = [{"token": TOKEN, "subject": "scarlet", "roles": ["scarlet"]}]
    (tmp_path / "kube").mkdir()
    kube = start_mcp_server(
        tmp_path / "kube",
        "kubernetes",
        KUBE_POLICY,
        entries,
        "--kubeconfig",
        str(cluster.kubeconfig),
    )
    finding = dying("kt-a", name, container)
    endpoints = [HttpEndpoint("loki", loki.url, TOKEN), HttpEndpoint("kubernetes", kube.url, TOKEN)]
    try:
        async with McpPool(endpoints) as pool:
            notes = await add_log_lines(pool, [finding], None)
    finally:
        loki.stop()
        kube.stop()
    assert len(notes) == 1
    assert notes[0].startswith(f"logs of kt-a/{name} ({container}) from Loki unavailable: ")
    assert f"Loki at {down}: unreachable" in notes[0]
    evidence = finding.evidence[-1]
    assert evidence.tool == "kubernetes__pod_logs"
    assert evidence.arguments["name"] == name and evidence.arguments["tail_lines"] == 20
    assert "listening on :8080" in evidence.excerpt
    assert "hunter2" not in evidence.excerpt
