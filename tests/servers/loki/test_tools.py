"""Every Loki tool through a real MCP client, against the fake Loki (or a real one with
LOKI_URL): answers, guardrails, redaction."""

from __future__ import annotations

import json
from typing import Any

import pytest

from autodevops.servers.loki.tools import LogsArgs, log_lines, render_log_lines
from devstack.services import audit_lines
from tests.mcp_helpers import call_text

from .conftest import Opener

ALL_TOOLS = {
    "query_logs",
    "query_metrics",
    "label_names",
    "label_values",
    "series",
    "stats",
    "volume",
    "patterns",
}


async def test_catalogue_is_small_read_only_and_described(loki_url: str, loki_mcp: Opener) -> None:
    async with loki_mcp(loki_url, "viewer") as (client, _):
        tools = await client.list_tools()
    assert {t.name for t in tools} == ALL_TOOLS
    for t in tools:
        assert t.annotations is not None and t.description is not None
        assert t.annotations.read_only_hint is True and t.annotations.destructive_hint is False
        assert len(t.description) <= 600
    assert sum(len(t.description or "") + len(str(t.input_schema)) for t in tools) < 9000


async def test_logs_newest_first_with_only_the_labels_that_differ(
    loki_url: str, loki_mcp: Opener
) -> None:
    async with loki_mcp(loki_url, "viewer") as (client, audit):
        text, error = await call_text(
            client, "query_logs", {"query": '{app="api", namespace="team-a"} |= "error"'}
        )
    assert not error, text
    assert text.splitlines()[0] == (
        'labels on every line: {app="api", container="api", namespace="team-a"}'
    )
    lines = log_lines(text)
    assert len(lines) == 5
    assert [line.split("  ")[1] for line in lines] == [
        '{pod="api-1"}',
        '{pod="api-2"}',
        '{pod="api-1"}',
        '{pod="api-2"}',
        '{pod="api-1"}',
    ]
    stamps = [line.split("  ")[0] for line in lines]
    assert stamps == sorted(stamps, reverse=True)
    assert text.endswith("[5 lines, newest first]")
    assert audit_lines(audit)[-1]["tool"] == "query_logs"


async def test_oldest_first_and_the_limit_says_how_to_page_on(
    loki_url: str, loki_mcp: Opener
) -> None:
    async with loki_mcp(loki_url, "viewer") as (client, _):
        text, _ = await call_text(
            client,
            "query_logs",
            {"query": '{namespace="team-a", app="api"}', "direction": "oldest_first", "limit": 2},
        )
    lines = log_lines(text)
    assert len(lines) == 2 and '"msg": "started"' in lines[0]
    assert "the limit of 2 lines was reached" in text
    assert f"page on with start={lines[-1].split()[0]}" in text


async def test_json_lines_are_redacted_by_structure_and_stay_json(
    loki_url: str, loki_mcp: Opener
) -> None:
    async with loki_mcp(loki_url, "viewer") as (client, _):
        text, _ = await call_text(client, "query_logs", {"query": '{pod="api-1"} |= "error"'})
    documents = [json.loads(line.split("  ", 1)[1]) for line in log_lines(text)]
    by_msg = {doc["msg"]: doc for doc in documents}
    assert by_msg["login failed"]["password"] == "[REDACTED]"
    assert "[REDACTED]" in by_msg["upstream call"]["headers"]["Authorization"]
    assert by_msg["db down"]["dsn"] == "postgres://app:[REDACTED]@db:5432/orders"
    assert by_msg["db down"]["status"] == 500
    for secret in ("hunter2", "and more", "abcdefghijklmnop", "s3cr3tpw"):
        assert secret not in text


async def test_text_lines_and_extracted_labels_are_redacted(
    loki_url: str, loki_mcp: Opener
) -> None:
    async with loki_mcp(loki_url, "viewer") as (client, _):
        text, _ = await call_text(client, "query_logs", {"query": '{pod="api-2"} |= "token="'})
        assert "token=[REDACTED]" in text and "tok_live" not in text
        text, _ = await call_text(
            client, "query_logs", {"query": '{pod="api-1"} | json | msg="login failed"'}
        )
    assert 'password="[REDACTED]"' in text and "hunter2" not in text


async def test_long_lines_are_cut_and_the_line_limit_is_the_roles(
    loki_url: str, loki_mcp: Opener
) -> None:
    async with loki_mcp(loki_url, "tight") as (client, _):
        text, _ = await call_text(client, "query_logs", {"query": '{pod="api-2"}', "limit": 50})
    lines = log_lines(text)
    assert len(lines) == 3
    assert lines[0].endswith("…[line cut: 118 more characters]")
    assert "limit lowered to 3, your role's maximum" in text


@pytest.mark.parametrize(
    ("role", "arguments", "message"),
    [
        ("viewer", {"since": "48h"}, "invalid argument 'since': the call would read 2d;"),
        ("tight", {"since": "45m"}, "your role may read at most 30m at a time"),
        ("viewer", {"start": "now-2h", "since": "1h"}, "give since or start, not both"),
        ("viewer", {"start": "now", "end": "now-1h"}, "the start must be before the end"),
    ],
)
async def test_time_range_guard(
    loki_url: str, loki_mcp: Opener, role: str, arguments: dict[str, Any], message: str
) -> None:
    async with loki_mcp(loki_url, role) as (client, _):
        text, error = await call_text(client, "query_logs", {"query": '{app="api"}', **arguments})
    assert error and message in text, text


async def test_a_metric_query_counts_its_inner_range_against_the_guard(
    loki_url: str, loki_mcp: Opener
) -> None:
    async with loki_mcp(loki_url, "tight") as (client, _):
        text, error = await call_text(
            client,
            "query_metrics",
            {"query": 'count_over_time({app="api"}[1h])', "instant": True},
        )
    assert error and "plus the query's [3600s] range" in text


async def test_selective_matcher_is_required(loki_url: str, loki_mcp: Opener) -> None:
    async with loki_mcp(loki_url, "viewer") as (client, _):
        text, error = await call_text(client, "query_logs", {"query": '{app=~".+"}'})
    assert error and text.startswith("invalid argument 'query': the selector {app=~\".+\"}")


async def test_metrics_range_and_instant(loki_url: str, loki_mcp: Opener) -> None:
    query = 'sum by (pod) (count_over_time({namespace="team-a"} |= "error" [1h]))'
    async with loki_mcp(loki_url, "viewer") as (client, _):
        text, error = await call_text(client, "query_metrics", {"query": query, "instant": True})
        assert not error, text
        values = {line.split()[0]: line.split()[1] for line in text.splitlines()[1:]}
        assert values == {
            '{pod="api-1"}': "3",
            '{pod="api-2"}': "2",
            '{pod="worker-7d9f-x2k4q"}': "2",
        }
        text, _ = await call_text(client, "query_metrics", {"query": query, "step": "10m"})
    header, *rows = text.splitlines()
    assert header.split() == ["SERIES", "POINTS", "FIRST", "LAST", "MIN", "MAX", "AVG"]
    last = {row.split()[0]: row.split()[3] for row in rows if row.startswith("{")}
    assert last['{pod="api-1"}'] == "3"
    assert "step 600s" in text


async def test_step_guard_and_kind_check(loki_url: str, loki_mcp: Opener) -> None:
    async with loki_mcp(loki_url, "viewer") as (client, _):
        text, error = await call_text(
            client,
            "query_metrics",
            {"query": 'rate({app="api"}[1m])', "since": "23h", "step": "10s"},
        )
        assert error and "use step >= 83s" in text
        text, error = await call_text(client, "query_metrics", {"query": '{app="api"}'})
        assert error and "this is a log query; use query_logs" in text


async def test_labels_series_stats_volume(loki_url: str, loki_mcp: Opener) -> None:
    async with loki_mcp(loki_url, "viewer") as (client, _):
        text, _ = await call_text(client, "label_names", {})
        assert text.splitlines()[1:] == ["app", "container", "namespace", "pod"]
        text, _ = await call_text(client, "label_values", {"label": "namespace"})
        assert text.splitlines()[1:] == ["team-a", "team-b-blue", "team-c"]
        text, _ = await call_text(
            client, "label_values", {"label": "pod", "selector": '{app="worker"}'}
        )
        assert text.splitlines()[1:] == ["worker-7d9f-x2k4q"]
        text, _ = await call_text(client, "series", {"selector": '{namespace="team-b-blue"}'})
        assert text.splitlines()[1:] == [
            '{app="web", container="web", namespace="team-b-blue", pod="web-1"}'
        ]
        text, _ = await call_text(client, "stats", {"selector": '{namespace="team-a"}'})
        assert text.startswith("streams 3, chunks ") and ", lines 14, bytes " in text
        text, _ = await call_text(
            client, "volume", {"selector": '{namespace="team-a"}', "by": ["app"]}
        )
        rows = [line.split("  ")[0] for line in text.splitlines()[1:]]
        assert rows == ['{app="api"}', '{app="worker"}']
        text, error = await call_text(client, "stats", {"selector": '{namespace="team-a"} |= "x"'})
        assert error and "must be a stream selector only" in text


async def test_patterns_where_served_and_a_clear_message_where_not(
    fake_loki: Any, loki_mcp: Opener
) -> None:
    async with loki_mcp(fake_loki.url, "viewer") as (client, _):
        text, error = await call_text(client, "patterns", {"selector": '{app="worker"}'})
        assert not error and text.splitlines()[0].split() == ["COUNT", "PATTERN"]
        assert any("loading batch <_>" in line for line in text.splitlines())
        fake_loki.patterns_served = False
        text, error = await call_text(client, "patterns", {"selector": '{app="worker"}'})
    assert not error and text.startswith("this Loki does not serve patterns")


async def test_bad_arguments_name_the_field(loki_url: str, loki_mcp: Opener) -> None:
    async with loki_mcp(loki_url, "viewer") as (client, audit):
        text, error = await call_text(client, "query_logs", {"query": '{app="api"', "lines": 3})
        assert error and "invalid argument 'lines': Extra inputs are not permitted" in text
        text, error = await call_text(client, "query_logs", {"query": '{app="api"'})
        assert error and text.startswith("invalid argument 'query': not valid LogQL: expected")
        text, error = await call_text(client, "label_values", {"label": "bad-name"})
        assert error and text.startswith("invalid argument 'label'")
    assert audit_lines(audit)[-1]["reason"] == "invalid_arguments"


async def test_byte_limit_cuts_with_a_notice(loki_url: str, loki_mcp: Opener) -> None:
    async with loki_mcp(loki_url, "tiny-bytes") as (client, audit):
        text, _ = await call_text(client, "query_logs", {"query": '{pod="api-1"}'})
    assert len(text.encode()) <= 400
    assert text.splitlines()[-1].startswith("[cut: result exceeded 400 bytes")
    assert "line filter" in text.splitlines()[-1]
    assert audit_lines(audit)[-1]["cut"] is True


def test_log_lines_reads_back_what_query_logs_renders() -> None:
    """The renderer and its reader, round trip: one text line per entry, newlines escaped."""
    ns = 1_800_000_000_000_000_000
    args = LogsArgs.model_validate({"query": '{app="a"}'})
    streams = [
        {"stream": {"app": "a", "pod": "p1"}, "values": [[str(ns), "two\nlines"]]},
        {"stream": {"app": "a", "pod": "p2"}, "values": [[str(ns + 10**6), '{"k": "v"}']]},
    ]
    text = render_log_lines(streams, args, 10, 100, []).text
    assert log_lines(text) == [
        '2027-01-15T08:00:00.001Z  {pod="p2"}  {"k": "v"}',
        '2027-01-15T08:00:00.000Z  {pod="p1"}  two\\nlines',
    ]
    assert log_lines(render_log_lines([], args, 10, 100, []).text) == []
