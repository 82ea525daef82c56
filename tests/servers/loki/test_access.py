"""Who reads what: a scoped role sees only its namespaces' streams in every tool, a role's
tenant is sent as X-Scope-OrgID, and Loki only ever sees the server's own credentials."""

from __future__ import annotations

from pathlib import Path

from autodevops.servers.loki.tools import log_lines
from devstack.services import audit_lines
from tests.fakes.fake_loki import FakeLoki
from tests.mcp_helpers import call_text

from .conftest import Opener

SCOPE = 'namespace=~"team-a|team-b-.*"'


async def test_a_scoped_role_reads_only_its_namespaces(loki_url: str, loki_mcp: Opener) -> None:
    async with loki_mcp(loki_url, "team") as (client, _):
        text, _ = await call_text(client, "query_logs", {"query": '{app="api"} |= "error"'})
        assert "TEAM-C" not in text and len(log_lines(text)) == 5
        text, _ = await call_text(client, "query_logs", {"query": '{app="web"}'})
        assert len(log_lines(text)) == 3
        text, _ = await call_text(client, "label_values", {"label": "namespace"})
        assert text.splitlines()[1:] == ["team-a", "team-b-blue"]
        text, _ = await call_text(
            client, "label_values", {"label": "pod", "selector": '{app="api"}'}
        )
        assert text.splitlines()[1:] == ["api-1", "api-2"]
        text, _ = await call_text(client, "label_names", {})
        assert text.splitlines()[1:] == ["app", "container", "namespace", "pod"]
        text, _ = await call_text(client, "series", {"selector": '{app="api"}'})
        assert "team-c" not in text and len(text.splitlines()) == 3
        text, _ = await call_text(client, "stats", {"selector": '{app="api"}'})
        assert text.startswith("streams 2,")
        text, _ = await call_text(
            client, "volume", {"selector": '{app="api"}', "by": ["namespace"]}
        )
        assert [line.split("  ")[0] for line in text.splitlines()[1:]] == ['{namespace="team-a"}']
        text, _ = await call_text(client, "patterns", {"selector": '{app="api"}'})
        assert "TEAM-C" not in text


async def test_both_sides_of_a_binary_operation_are_scoped(
    fake_loki: FakeLoki, loki_mcp: Opener
) -> None:
    query = (
        'sum(count_over_time({app="api"} |= "error" [1h])) / sum(count_over_time({app="api"}[1h]))'
    )
    async with loki_mcp(fake_loki.url, "team") as (client, _):
        text, error = await call_text(client, "query_metrics", {"query": query, "instant": True})
    assert not error and text.splitlines()[1].split() == ["{}", "0.5"]
    sent = dict(fake_loki.api_requests()[-1].params)["query"]
    assert sent.count(SCOPE) == 2


async def test_refusals_say_why_and_are_audited(loki_url: str, loki_mcp: Opener) -> None:
    async with loki_mcp(loki_url, "team") as (client, audit):
        text, error = await call_text(
            client, "query_logs", {"query": '{app="api", namespace="team-c"}'}
        )
        assert error and "asks for namespace 'team-c', outside your scope" in text
        text, error = await call_text(
            client,
            "query_logs",
            {"query": '{app="api"} | label_format namespace="team-a"'},
        )
        assert error and "label_format writes the label 'namespace'" in text
        text, error = await call_text(
            client, "series", {"selector": '{app="api", namespace="team-c"}'}
        )
        assert error and "'selector' cannot be limited to your scope" in text
    records = audit_lines(audit)
    assert [(r["decision"], r["reason"]) for r in records] == [("deny", "out_of_scope")] * 3


async def test_a_query_string_holding_a_selector_is_not_a_way_out(
    fake_loki: FakeLoki, loki_mcp: Opener
) -> None:
    query = '{app="api"} != "}, {namespace=\\"team-c\\"} |= \\"" # {namespace="team-c"}'
    async with loki_mcp(fake_loki.url, "team") as (client, _):
        text, error = await call_text(client, "query_logs", {"query": query})
    assert not error and "TEAM-C" not in text
    sent = dict(fake_loki.api_requests()[-1].params)["query"]
    assert sent.startswith('{app="api", ' + SCOPE + "} !=") and "#" not in sent


async def test_the_roles_tenant_is_sent(fake_loki: FakeLoki, loki_mcp: Opener) -> None:
    async with loki_mcp(fake_loki.url, "other-tenant") as (client, _):
        text, _ = await call_text(client, "query_logs", {"query": '{app="api"}'})
    assert log_lines(text)[0].endswith("OTHER-TENANT error line")
    assert {r.headers["x-scope-orgid"] for r in fake_loki.api_requests()} == {"other"}
    async with loki_mcp(fake_loki.url, "viewer") as (client, _):
        text, _ = await call_text(client, "query_logs", {"query": '{app="api"}'})
    assert "OTHER-TENANT" not in text
    assert fake_loki.api_requests()[-1].headers["x-scope-orgid"] == "fake"


async def test_the_servers_own_bearer_token_is_read_from_its_file_each_call(
    fake_loki: FakeLoki, loki_mcp: Opener, tmp_path: Path
) -> None:
    token_file = tmp_path / "loki-token"
    token_file.write_text("first-token-0123456789\n")
    fake_loki.token = "first-token-0123456789"
    async with loki_mcp(fake_loki.url, "viewer", token_file=token_file) as (client, _):
        text, error = await call_text(client, "label_names", {})
        assert not error, text
        token_file.write_text("rotated-token-0123456789")
        fake_loki.token = "rotated-token-0123456789"
        text, error = await call_text(client, "label_names", {})
        assert not error, text
        fake_loki.token = "another-token-0123456789"
        text, error = await call_text(client, "label_names", {})
    assert error and text.startswith(f"Loki at {fake_loki.url}: refused this server's credentials")
    assert "rotated-token" not in text


async def test_basic_auth_from_a_password_file(
    fake_loki: FakeLoki, loki_mcp: Opener, tmp_path: Path
) -> None:
    password = tmp_path / "loki-password"
    password.write_text("pa55word-0123456789")
    async with loki_mcp(fake_loki.url, "viewer", username="mcp", password_file=password) as (
        client,
        _,
    ):
        await call_text(client, "label_names", {})
    sent = fake_loki.api_requests()[-1].headers["authorization"]
    assert sent == "Basic bWNwOnBhNTV3b3JkLTAxMjM0NTY3ODk="
