"""Every Tempo tool through a real MCP client, against the fake Tempo (or a real one when
TEMPO_URL is given): results, scope, tenants, errors and the audit."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from autodevops.servers.core.output import parse_table
from devstack.services import audit_lines
from tests.fakes.fake_tempo import CHECKOUT, CROSS_NAMESPACE, FANOUT, FakeTempo, fan_out_trace
from tests.mcp_helpers import call_text, tempo_mcp

from .conftest import POLICY

ALL_TOOLS = {"search_traces", "get_trace", "tag_names", "tag_values", "traceql_metrics"}


@pytest.fixture
async def viewer(tempo_url: str, tmp_path: Path) -> Any:
    async with tempo_mcp(tempo_url, "viewer", tmp_path, POLICY) as session:
        yield session


@pytest.fixture
async def team_a(tempo_url: str, tmp_path: Path) -> Any:
    async with tempo_mcp(tempo_url, "team-a", tmp_path, POLICY) as session:
        yield session


async def test_catalogue_is_small_read_only_and_honest(viewer: Any) -> None:
    client, _ = viewer
    tools = await client.list_tools()
    assert {t.name for t in tools} == ALL_TOOLS
    for t in tools:
        assert t.annotations.read_only_hint is True
        assert t.annotations.destructive_hint is False
        assert len(t.description) <= 600
    assert sum(len(t.description) + len(str(t.input_schema)) for t in tools) < 6000


async def test_search_gives_one_row_per_trace_with_counts(viewer: Any) -> None:
    client, _ = viewer
    text, error = await call_text(client, "search_traces", {"query": "{ status = error }"})
    assert not error
    rows = {r["TRACE ID"]: r for r in parse_table(text).records()}
    assert set(rows) == {CHECKOUT, CROSS_NAMESPACE}
    checkout = rows[CHECKOUT]
    assert checkout["ROOT"] == "frontend: POST /api/checkout"
    assert (checkout["SPANS"], checkout["ERRORS"], checkout["DURATION"]) == ("12", "6", "1.20s")
    assert checkout["MATCHED"].startswith("6: POST /api/checkout (frontend, 1.20s")


async def test_search_orders_by_duration_and_limits(viewer: Any) -> None:
    client, _ = viewer
    text, _ = await call_text(client, "search_traces", {"order": "slowest"})
    rows = parse_table(text).records()
    assert [r["TRACE ID"] for r in rows] == [FANOUT.lstrip("0"), CHECKOUT, CROSS_NAMESPACE]
    # Tempo picks the most recent `limit` traces; the order applies to those
    text, _ = await call_text(client, "search_traces", {"order": "slowest", "limit": 2})
    rows = parse_table(text).records()
    assert [r["TRACE ID"] for r in rows] == [FANOUT.lstrip("0"), CROSS_NAMESPACE]


async def test_structural_and_count_queries(viewer: Any) -> None:
    client, _ = viewer
    text, _ = await call_text(
        client,
        "search_traces",
        {"query": '{ resource.service.name = "payment" } >> { span.db.system = "postgresql" }'},
    )
    assert [r["TRACE ID"] for r in parse_table(text).records()] == [CHECKOUT]
    text, _ = await call_text(
        client, "search_traces", {"query": '{ resource.service.name = "index" } | count() > 10'}
    )
    assert [r["TRACE ID"] for r in parse_table(text).records()] == [FANOUT.lstrip("0")]


async def test_get_trace_summary_names_the_critical_path_and_failure(viewer: Any) -> None:
    client, _ = viewer
    text, error = await call_text(client, "get_trace", {"trace_id": CHECKOUT})
    assert not error
    path = text.split("critical path")[1].split("errors")[0]
    assert "1.01s of     1.01s  payment: INSERT payments ERROR" in path
    assert "deadlock detected" in text and "4111111111111111" not in text
    assert "[REDACTED]" in text and "s3cr3t" not in text


async def test_get_trace_pages_of_spans_within_the_budget(viewer: Any) -> None:
    client, _ = viewer
    text, _ = await call_text(client, "get_trace", {"trace_id": FANOUT, "view": "spans"})
    table = parse_table(text)
    assert len(table.rows) == 28 and table.notes[0].startswith("page 1 of 1 (40 spans a page")
    assert table.records()[0]["NAME"] == "GET /search"
    text, error = await call_text(
        client, "get_trace", {"trace_id": FANOUT, "view": "spans", "page": 2}
    )
    assert error and text == "invalid argument 'page': the trace has 1 page(s) of 40 spans"


async def test_unknown_trace_is_a_clear_not_found(viewer: Any) -> None:
    client, audit = viewer
    text, error = await call_text(client, "get_trace", {"trace_id": "deadbeef"})
    assert error
    assert text.startswith("trace 000000000000000000000000deadbeef was not found")
    assert audit_lines(audit)[-1]["outcome"] == "not_found"


async def test_tags_and_values(viewer: Any) -> None:
    client, _ = viewer
    text, _ = await call_text(client, "tag_names", {"scope": "resource"})
    assert {"service.name", "k8s.namespace.name"} <= {r["TAG"] for r in parse_table(text).records()}
    text, _ = await call_text(
        client, "tag_values", {"tag": "resource.service.name", "query": "{ status = error }"}
    )
    values = {r["VALUE"] for r in parse_table(text).records()}
    assert values == {"frontend", "checkout", "payment", "billing"}


async def test_traceql_metrics(viewer: Any) -> None:
    client, _ = viewer
    text, error = await call_text(
        client,
        "traceql_metrics",
        {"query": "{ status = error } | count_over_time() by (resource.service.name)",
         "start": "now-1h", "step": "1h"},
    )  # fmt: skip
    assert not error
    counts = {r["SERIES"]: r["LAST"] for r in parse_table(text).records()}
    assert counts['{resource.service.name="payment"}'] == "2"
    text, error = await call_text(client, "traceql_metrics", {"query": "{ status = error }"})
    assert error and text.startswith("invalid argument 'query': end it in a metrics function")


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("search_traces", {"query": "{ status = }"}, "invalid argument 'query': not TraceQL"),
        ("search_traces", {"query": "{ } | rate()"}, "invalid argument 'query': a metrics query"),
        ("search_traces", {"start": "now", "end": "now-1h"}, "invalid argument 'start'"),
        ("search_traces", {"limit": 1000}, "invalid argument 'limit'"),
        ("get_trace", {"trace_id": "xyz"}, "invalid argument 'trace_id'"),
        ("tag_values", {"tag": "a b"}, "invalid argument 'tag'"),
        ("traceql_metrics", {"query": "{ } | rate()", "step": "1s", "start": "now-7d"},
         "invalid argument 'step': more than 1000 points"),
    ],
)  # fmt: skip
async def test_bad_arguments_name_the_field(
    viewer: Any, tool: str, arguments: dict[str, Any], message: str
) -> None:
    client, _ = viewer
    text, error = await call_text(client, tool, arguments)
    assert error and text.startswith(message), text


async def test_scoped_role_searches_only_its_spans(team_a: Any) -> None:
    client, _ = team_a
    text, _ = await call_text(client, "search_traces", {})
    rows = parse_table(text).records()
    assert [r["TRACE ID"] for r in rows] == [CROSS_NAMESPACE]
    assert rows[0]["ROOT"] == "web" and "(billing" not in rows[0]["MATCHED"]
    assert rows[0]["MATCHED"].startswith("3: ")
    # the failing span is in team-b: team-a cannot find the trace through it
    text, _ = await call_text(client, "search_traces", {"query": "{ status = error }"})
    assert parse_table(text).rows == []
    text, _ = await call_text(
        client, "search_traces", {"query": '{ span.billing.customer_email =~ "alice.*" }'}
    )
    assert parse_table(text).rows == []


async def test_scoped_role_sees_other_namespaces_by_service_only(team_a: Any) -> None:
    client, _ = team_a
    text, error = await call_text(client, "get_trace", {"trace_id": CROSS_NAMESPACE})
    assert not error
    assert "billing (outside your scope)" in text and "alice" not in text
    assert "SELECT invoices" not in text and "statement timeout" not in text
    text, _ = await call_text(client, "get_trace", {"trace_id": CROSS_NAMESPACE, "view": "spans"})
    rows = parse_table(text).records()
    hidden = [r for r in rows if r["SERVICE"] == "billing"]
    assert len(hidden) == 3 and {r["NAME"] for r in hidden} == {"(outside your scope)"}
    assert {r["DETAIL"] for r in hidden} == {""}


async def test_scoped_role_cannot_read_a_trace_outside_its_scope(team_a: Any) -> None:
    client, _ = team_a
    text, error = await call_text(client, "get_trace", {"trace_id": CHECKOUT})
    assert error and text.startswith(f"trace {CHECKOUT} was not found in your scope")


async def test_scoped_role_refusals_are_audited(team_a: Any) -> None:
    client, audit = team_a
    text, error = await call_text(
        client, "search_traces", {"query": '{ resource.k8s.namespace.name = "team-b" }'}
    )
    assert error and "outside your scope" in text
    record = audit_lines(audit)[-1]
    assert (record["decision"], record["reason"]) == ("deny", "out_of_scope")
    text, _ = await call_text(client, "tag_values", {"tag": "resource.k8s.namespace.name"})
    assert [r["VALUE"] for r in parse_table(text).records()] == ["team-a"]


async def test_the_scope_reaches_tempo_in_the_query(tmp_path: Path) -> None:
    with FakeTempo() as fake:
        async with tempo_mcp(fake.url, "team-a", tmp_path, POLICY) as (client, _):
            await call_text(client, "tag_names", {})
            await call_text(client, "search_traces", {"query": "{ .x = 1 } || { }"})
        assert fake.queries == [
            '{ (resource.k8s.namespace.name = "team-a") }',
            '({ ((.x = 1) && (resource.k8s.namespace.name = "team-a")) } || '
            '{ (resource.k8s.namespace.name = "team-a") })',
        ]


async def test_tenant_per_role_and_the_servers_own_token(
    tmp_path: Path, tmp_path_factory: Any
) -> None:
    token = tmp_path_factory.mktemp("secret") / "token"
    token.write_text("tempo-server-token-0123\n")
    tenants = {CHECKOUT: "tenant-b", FANOUT: "tenant-a", CROSS_NAMESPACE: "tenant-a"}
    with FakeTempo(tenants=tenants, token="tempo-server-token-0123") as fake:
        options = {"tenant": "tenant-a", "token_file": token}
        async with tempo_mcp(fake.url, "tenant-b", tmp_path, POLICY, **options) as (client, _):
            text, _ = await call_text(client, "search_traces", {})
            assert [r["TRACE ID"] for r in parse_table(text).records()] == [CHECKOUT]
        async with tempo_mcp(fake.url, "viewer", tmp_path, POLICY, **options) as (client, _):
            text, _ = await call_text(client, "search_traces", {})
            assert CHECKOUT not in text and CROSS_NAMESPACE in text
        headers = [h for _, _, h in fake.requests]
        assert {h["x-scope-orgid"] for h in headers} == {"tenant-a", "tenant-b"}
        assert {h["authorization"] for h in headers} == {"Bearer tempo-server-token-0123"}


async def test_missing_tenant_and_wrong_token_name_what_to_check(tmp_path: Path) -> None:
    with FakeTempo(tenants={}) as fake:
        async with tempo_mcp(fake.url, "viewer", tmp_path, POLICY) as (client, _):
            text, error = await call_text(client, "search_traces", {})
    assert error and "refused the server's credentials (HTTP 401: no org id)" in text
    assert "X-Scope-OrgID" in text


async def test_tempo_2_2_reads_traces_through_v1_and_has_no_metrics(tmp_path: Path) -> None:
    with FakeTempo(version="2.2") as fake:
        async with tempo_mcp(fake.url, "viewer", tmp_path, POLICY) as (client, audit):
            text, error = await call_text(client, "get_trace", {"trace_id": CHECKOUT})
            assert not error and "payment: INSERT payments ERROR" in text
            text, error = await call_text(client, "traceql_metrics", {"query": "{ } | rate()"})
            assert error and text.startswith("TraceQL metrics need Tempo 2.4 or later")
            assert audit_lines(audit)[-1]["outcome"] == "unsupported"
        paths = [path for path, _, _ in fake.requests]
        assert paths.count(f"/api/v2/traces/{CHECKOUT}") == 1
        assert f"/api/traces/{CHECKOUT}" in paths


async def test_tempo_down_names_host_port_and_what_to_check(tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    async with tempo_mcp(f"http://user:pw@127.0.0.1:{port}", "viewer", tmp_path, POLICY) as (
        client,
        _,
    ):
        text, error = await call_text(client, "search_traces", {})
    assert error and text.startswith(f"Tempo at 127.0.0.1:{port}: unreachable")
    assert "Check: that Tempo is running and --tempo-url" in text and "pw" not in text


async def test_slow_tempo_hits_the_call_time_limit(tmp_path: Path) -> None:
    with FakeTempo(delay=3) as fake:
        async with tempo_mcp(fake.url, "impatient", tmp_path, POLICY) as (client, audit):
            text, error = await call_text(client, "search_traces", {})
    assert error and "did not answer within 1s" in text
    assert audit_lines(audit)[-1]["outcome"] == "timeout"


async def test_big_trace_summary_and_pages_stay_bounded(tmp_path: Path) -> None:
    big = fan_out_trace(5000)
    with FakeTempo(extra=[big]) as fake:
        async with tempo_mcp(fake.url, "viewer", tmp_path, POLICY) as (client, _):
            text, error = await call_text(client, "get_trace", {"trace_id": "f" * 32})
            assert not error and len(text.encode()) < 10_000
            assert "spans: 5000 (0 outside your scope)" in text
            text, _ = await call_text(
                client, "get_trace", {"trace_id": "f" * 32, "view": "spans", "page": 125}
            )
            table = parse_table(text)
            assert len(table.rows) == 40 and table.notes[0].startswith("page 125 of 125")


async def test_tempo_refusing_a_query_names_the_field(tmp_path: Path) -> None:
    """A query this server accepts but Tempo answers with 400 (here: the fake evaluates no
    `!>>`) comes back as an argument error carrying Tempo's words."""
    with FakeTempo() as fake:
        async with tempo_mcp(fake.url, "viewer", tmp_path, POLICY) as (client, audit):
            text, error = await call_text(client, "search_traces", {"query": "{ } !>> { }"})
    assert error
    assert text.startswith("invalid argument 'query': Tempo refused it: invalid TraceQL query")
    assert audit_lines(audit)[-1]["reason"] == "invalid_arguments"
