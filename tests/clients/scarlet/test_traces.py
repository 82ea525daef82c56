"""Scarlet attaches traces to latency and error-rate alerts: the Tempo server over HTTP, on
the fake Tempo's fixtures, through Scarlet's own pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.clients.scarlet.traces import trace_findings
from devstack.services import start_mcp_server
from tests.fakes.fake_tempo import CHECKOUT, FANOUT, FakeTempo

TOKEN = "scarlet-tempo-token-0123456789"
POLICY = {"server": "tempo", "roles": {"operator": {"tools": ["*"]}}}


def _alert(name: str, summary: str = "", **labels: str) -> dict[str, Any]:
    return {
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": name, "severity": "critical", **labels},
                "annotations": {"summary": summary},
            }
        ]
    }


@pytest.fixture(scope="module")
def tempo_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with FakeTempo() as fake:
        server = start_mcp_server(
            tmp_path_factory.mktemp("tempo"),
            "tempo",
            POLICY,
            [{"token": TOKEN, "subject": "scarlet", "roles": ["operator"]}],
            f"--tempo-url={fake.url}",
        )
        yield server
        server.stop()


@pytest.fixture
async def pool(tempo_server: Any) -> AsyncIterator[McpPool]:
    async with McpPool([HttpEndpoint("tempo", tempo_server.url, token=TOKEN)]) as pool:
        await pool.refresh()
        yield pool


async def test_error_rate_alert_gets_the_failing_traces(pool: McpPool) -> None:
    findings, notes = await trace_findings(
        pool, _alert("CheckoutHighErrorRate", "5xx above 5%", namespace="shop")
    )
    assert notes == []
    (finding,) = findings
    assert finding.analyzer == "traces" and finding.subject == "shop"
    assert finding.severity == "critical"
    assert finding.summary.startswith("CheckoutHighErrorRate: 1 failing traces in shop")
    assert finding.likely_cause == "payment: INSERT payments (1.01s): deadlock detected"
    search, summary = finding.evidence
    assert search.arguments["query"] == (
        '{ resource.k8s.namespace.name = "shop" && status = error }'
    )
    assert summary.arguments == {"trace_id": CHECKOUT}
    assert "critical path" in summary.excerpt


async def test_latency_alert_gets_the_slowest_traces(pool: McpPool) -> None:
    findings, _ = await trace_findings(
        pool, _alert("SearchLatencyHigh", service="search", namespace="search")
    )
    (finding,) = findings
    assert finding.subject == "search/search"
    assert finding.evidence[1].arguments == {"trace_id": FANOUT.lstrip("0")}
    assert finding.likely_cause.endswith("index: search shard")
    assert finding.likely_cause.split()[0] == "2.40s"


async def test_other_alerts_and_missing_namespaces_are_left_alone(pool: McpPool) -> None:
    assert await trace_findings(pool, _alert("DiskFull", namespace="shop")) == ([], [])
    assert await trace_findings(pool, _alert("HighErrorRate")) == ([], [])
    assert await trace_findings(pool, None) == ([], [])


async def test_without_tempo_nothing_is_asked(tmp_path: Path) -> None:
    async with McpPool([]) as empty:
        assert await trace_findings(empty, _alert("HighErrorRate", namespace="shop")) == ([], [])
