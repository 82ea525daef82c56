"""Every Prometheus tool through a real MCP client against a real Prometheus with known series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devstack.services import audit_lines
from tests.mcp_helpers import call_text, prometheus_mcp

ALL_TOOLS = {
    "query",
    "query_range",
    "series",
    "label_names",
    "label_values",
    "metric_metadata",
    "targets",
    "alerts",
    "rules",
    "server_info",
}


@pytest.fixture
async def viewer(prometheus: Any, tmp_path: Path) -> Any:
    async with prometheus_mcp(prometheus.url, "viewer", tmp_path) as session:
        yield session


async def test_catalogue_is_small_and_read_only(viewer: Any) -> None:
    client, _ = viewer
    tools = await client.list_tools()
    assert {t.name for t in tools} == ALL_TOOLS
    for t in tools:
        assert t.annotations.read_only_hint is True
        assert t.annotations.destructive_hint is False
        assert t.output_schema is None
        assert "title" not in t.input_schema
    catalogue = sum(len(t.description) + len(str(t.input_schema)) for t in tools)
    assert catalogue < 6000


async def test_instant_query_returns_known_values(viewer: Any) -> None:
    client, _ = viewer
    text, error = await call_text(
        client, "query", {"query": 'autodevops_test_requests_total{code="500"}'}
    )
    assert not error
    lines = text.splitlines()
    assert lines[0].split() == ["SERIES", "VALUE"]
    values = {_label(line, "namespace"): line.split()[-1] for line in lines[1:]}
    assert values == {"team-a": "5", "team-b": "10", "kube-system": "0"}


async def test_aggregation_and_scalar(viewer: Any) -> None:
    client, _ = viewer
    text, _ = await call_text(client, "query", {"query": "sum(autodevops_test_queue_depth)"})
    assert text.splitlines()[1].split() == ["{}", "10"]
    text, _ = await call_text(client, "query", {"query": "scalar(vector(42))"})
    assert text.startswith("scalar 42 at ")


async def test_range_query_summarises_each_series(viewer: Any) -> None:
    client, _ = viewer
    text, error = await call_text(
        client,
        "query_range",
        {"query": 'autodevops_test_queue_depth{namespace="team-b"}', "start": "now-5m"},
    )
    assert not error
    header, row = text.splitlines()[:2]
    assert header.split() == ["SERIES", "POINTS", "FIRST", "LAST", "MIN", "MAX", "AVG"]
    assert row.split()[2:] == ["7", "7", "7", "7", "7"]
    assert int(row.split()[1]) >= 1
    assert "step 3s" in text


async def test_range_step_guard_refuses_huge_range(viewer: Any) -> None:
    client, _ = viewer
    text, error = await call_text(
        client, "query_range", {"query": "up", "start": "now-365d", "step": "15s"}
    )
    assert error
    assert text.startswith("invalid argument 'step'") and "use step >=" in text


async def test_range_start_after_end_is_refused(viewer: Any) -> None:
    client, _ = viewer
    text, error = await call_text(
        client, "query_range", {"query": "up", "start": "now", "end": "now-1h"}
    )
    assert error and text == "invalid argument 'start': must be before end"


async def test_series_and_labels(viewer: Any) -> None:
    client, _ = viewer
    text, _ = await call_text(client, "series", {"match": ["autodevops_test_queue_depth"]})
    assert len(text.splitlines()) == 4
    text, _ = await call_text(client, "label_names", {"match": ["autodevops_test_queue_depth"]})
    assert set(text.splitlines()[1:]) == {"__name__", "instance", "job", "namespace"}
    text, _ = await call_text(client, "label_values", {"label": "namespace"})
    assert set(text.splitlines()[1:]) == {"team-a", "team-b", "kube-system"}


async def test_metadata_targets_alerts_rules_info(viewer: Any) -> None:
    client, _ = viewer
    text, _ = await call_text(client, "metric_metadata", {"metric": "autodevops_test_queue_depth"})
    assert "gauge" in text and "Items waiting in the queue" in text
    text, _ = await call_text(client, "targets", {})
    jobs = {line.split()[0]: line.split()[2] for line in text.splitlines()[1:]}
    assert jobs == {"exporter": "up", "prometheus": "up"}
    text, _ = await call_text(client, "alerts", {"state": "firing"})
    firing = {_label_csv(line) for line in text.splitlines()[1:]}
    assert firing == {"team-a", "team-b"}
    text, _ = await call_text(client, "rules", {"type": "record"})
    assert "namespace:autodevops_test_requests:sum" in text and "AutodevopsTest" not in text
    text, _ = await call_text(client, "server_info", {})
    assert text.startswith("version: 2.") and "storage retention" in text


async def test_unknown_metric_is_an_empty_answer_not_an_error(viewer: Any) -> None:
    client, _ = viewer
    text, error = await call_text(client, "query", {"query": "no_such_metric_anywhere"})
    assert not error and text.splitlines()[-1] == "(none)"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"query": "sum(rate(up[5m]"}, "invalid argument 'query': not valid PromQL"),
        ({"query": ""}, "invalid argument 'query': String should have at least 1 character"),
        ({}, "invalid argument 'query': Field required"),
        ({"query": "up", "time": "yesterday"}, "invalid argument 'time': Value error, 'yesterday'"),
        ({"query": "up", "limit": 3}, "invalid argument 'limit': Extra inputs are not permitted"),
    ],
)
async def test_bad_arguments_name_the_field(
    viewer: Any, arguments: dict[str, Any], message: str
) -> None:
    client, audit = viewer
    text, error = await call_text(client, "query", arguments)
    assert error and text.startswith(message), text
    record = audit_lines(audit)[-1]
    assert (record["decision"], record["reason"]) == ("deny", "invalid_arguments")


async def test_prometheus_rejection_is_reported_as_argument_error(viewer: Any) -> None:
    client, _ = viewer
    text, error = await call_text(
        client, "query", {"query": 'label_replace(up, "x", "$1", "job", "(")'}
    )
    assert error and text.startswith("invalid argument 'query'")
    assert "invalid regular expression" in text


async def test_secret_looking_values_are_redacted(viewer: Any) -> None:
    client, audit = viewer
    text, _ = await call_text(
        client, "query", {"query": "autodevops_test_secret_note # password=hunter2"}
    )
    assert "hunter2" not in text and 'note="password=[REDACTED]"' in text
    assert "hunter2" not in audit.read_text()


async def test_audit_line_per_call(viewer: Any) -> None:
    client, audit = viewer
    await call_text(client, "label_values", {"label": "job"})
    record = audit_lines(audit)[-1]
    assert record["tool"] == "label_values" and record["server"] == "prometheus"
    assert record["decision"] == "allow" and record["outcome"] == "ok"
    assert record["subject"].startswith("local:") and record["roles"] == ["viewer"]
    assert record["arguments"] == {"label": "job"}
    assert record["result_bytes"] > 0 and record["duration_ms"] > 0
    assert record["time"].endswith("+00:00")


def _label(line: str, name: str) -> str:
    return line.split(f'{name}="', 1)[1].split('"', 1)[0]


def _label_csv(line: str) -> str:
    return line.split("namespace=", 1)[1].split()[0].split(",")[0]
