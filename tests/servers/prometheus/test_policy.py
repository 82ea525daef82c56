"""The gate per role: hidden and refused tools, label scope, limits and the cut notice."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from devstack.services import audit_lines
from tests.mcp_helpers import call_text, prometheus_mcp, text_of


@pytest.fixture
async def team_a(prometheus: Any, tmp_path: Path) -> Any:
    async with prometheus_mcp(prometheus.url, "team-a", tmp_path) as session:
        yield session


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("query-only", {"query"}),
        ("nobody", set()),
        (
            "no-rules",
            {
                "query",
                "query_range",
                "series",
                "label_names",
                "label_values",
                "metric_metadata",
                "alerts",
                "server_info",
            },
        ),
    ],
)
async def test_roles_see_only_their_tools(
    prometheus: Any, tmp_path: Path, role: str, visible: set[str]
) -> None:
    async with prometheus_mcp(prometheus.url, role, tmp_path) as (client, audit):
        assert {t.name for t in await client.list_tools()} == visible
        text, error = await call_text(client, "rules", {})
        assert error and text.startswith("tool 'rules' is not allowed for local:")
        record = audit_lines(audit)[-1]
        assert (record["decision"], record["reason"], record["tool"]) == (
            "deny",
            "tool_not_allowed",
            "rules",
        )


async def test_unknown_tool_is_refused(team_a: Any) -> None:
    client, _ = team_a
    result = await client.call_tool("delete_everything", {}, raise_on_error=False)
    assert result.is_error and "Unknown tool" in text_of(result)


NAMESPACE = re.compile(r'namespace="([^"]*)"')


def namespaces(text: str) -> set[str]:
    return set(NAMESPACE.findall(text))


@pytest.mark.parametrize(
    "query",
    [
        "autodevops_test_requests_total",
        '{__name__=~".+"}',
        '{__name__=~"autodevops_test_.*"}',
        'autodevops_test_requests_total{namespace="team-b"} or autodevops_test_queue_depth',
        'autodevops_test_requests_total{namespace=~".*"}',
        'autodevops_test_requests_total{namespace!="team-a"}',
        "max_over_time(autodevops_test_queue_depth[1m:1s])",
        "autodevops_test_queue_depth * on(namespace) group_left sum by (namespace) "
        "(autodevops_test_requests_total)",
        "autodevops_test_queue_depth + ignoring(job) autodevops_test_queue_depth",
        'label_replace(autodevops_test_queue_depth, "namespace", "team-a", "", "")',
        "last_over_time(autodevops_test_queue_depth[1m] offset 1s)",
        'count by (namespace) ({namespace=~"team-.*"})',
    ],
)
async def test_scoped_queries_never_read_outside_the_scope(team_a: Any, query: str) -> None:
    client, _ = team_a
    text, error = await call_text(client, "query", {"query": query})
    if error:
        assert "cannot be limited to your scope" in text, text
        return
    rows = text.splitlines()[1:]
    assert namespaces(text) <= {"team-a"}, text
    if "label_replace" not in query and "!=" not in query and "team-b" not in query:
        assert namespaces(text) == {"team-a"} and rows != ["(none)"], text


async def test_scoped_relabel_cannot_launder_other_namespaces(team_a: Any) -> None:
    client, _ = team_a
    text, _ = await call_text(
        client,
        "query",
        {"query": 'sum(label_replace(autodevops_test_queue_depth, "namespace", "team-a", "", ""))'},
    )
    assert text.splitlines()[1].split()[-1] == "3", text


async def test_scoped_range_query_and_discovery(team_a: Any) -> None:
    client, _ = team_a
    text, _ = await call_text(
        client, "query_range", {"query": "sum(autodevops_test_queue_depth)", "start": "now-1m"}
    )
    assert text.splitlines()[1].split()[2] == "3"
    text, _ = await call_text(client, "label_values", {"label": "namespace"})
    assert text.splitlines()[1:] == ["team-a"]
    text, _ = await call_text(client, "series", {"match": ['{__name__=~"autodevops_test.*"}']})
    assert namespaces(text) == {"team-a"}
    text, _ = await call_text(client, "label_names", {})
    assert "namespace" in text


async def test_scoped_alerts_targets_and_rules_are_filtered(team_a: Any) -> None:
    client, _ = team_a
    text, _ = await call_text(client, "alerts", {})
    assert "namespace=team-a" in text and "team-b" not in text
    text, _ = await call_text(client, "targets", {})
    assert text.splitlines()[1:] == ["(none)"], "targets carry no namespace label: hidden"
    text, _ = await call_text(client, "rules", {"type": "alert"})
    assert "firing (1)" in text


async def test_limits_cut_items_and_say_how_to_narrow(prometheus: Any, tmp_path: Path) -> None:
    async with prometheus_mcp(prometheus.url, "query-only", tmp_path) as (client, audit):
        text, error = await call_text(client, "query", {"query": "autodevops_test_requests_total"})
        assert not error
        assert len(text.splitlines()) == 1 + 2 + 1
        assert text.splitlines()[-1].startswith("[cut: showing 2 of 6 rows (limit 2).")
        assert "topk()" in text.splitlines()[-1]
        assert audit_lines(audit)[-1]["cut"] is True

        for _ in range(2):
            text, error = await call_text(client, "query", {"query": "up"})
            assert not error
        text, error = await call_text(client, "query", {"query": "up"})
        assert error and text.startswith("rate limit: 3 calls per minute")
        assert audit_lines(audit)[-1]["reason"] == "rate_limited"


async def test_limits_cut_bytes(prometheus: Any, tmp_path: Path) -> None:
    async with prometheus_mcp(prometheus.url, "tight-bytes", tmp_path) as (client, audit):
        text, error = await call_text(client, "query", {"query": '{__name__=~"prometheus_.*"}'})
        assert not error
        assert len(text.encode()) <= 300
        assert "[cut: result exceeded 300 bytes and was truncated." in text
        assert audit_lines(audit)[-1]["cut"] is True
