"""The server as users run it: `autodevops serve loki` over HTTP with tokens, and over stdio
for an IDE assistant; the caller's token never reaches Loki."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import yaml
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from devstack.services import audit_lines, start_mcp_server
from tests.fakes.fake_loki import FakeLoki
from tests.mcp_helpers import client_for, text_of

from .conftest import LOKI_POLICY

CALLER_TOKEN = "team-caller-token-0123456789"


async def test_http_scopes_by_token_and_never_passes_the_token_on(
    fake_loki: FakeLoki, tmp_path: Path
) -> None:
    token_file = tmp_path / "loki-token"
    token_file.write_text("server-own-token-0123456789")
    fake_loki.token = "server-own-token-0123456789"
    server = start_mcp_server(
        tmp_path,
        "loki",
        LOKI_POLICY,
        [{"token": CALLER_TOKEN, "subject": "team-bot", "roles": ["team"]}],
        "--loki-url",
        fake_loki.url,
        "--loki-tenant",
        "fake",
        "--loki-token-file",
        str(token_file),
    )
    try:
        async with client_for(server.url, CALLER_TOKEN) as client:
            result = await client.call_tool("label_values", {"label": "namespace"})
            assert text_of(result).splitlines()[1:] == ["team-a", "team-b-blue"]
        async with httpx.AsyncClient(timeout=10) as http:
            ready = await http.get(server.url.removesuffix("/mcp") + "/readyz")
        assert ready.json() == {"status": "ready", "backend": "Loki"}
    finally:
        server.stop()
    sent = {r.headers.get("authorization") for r in fake_loki.requests}
    assert sent == {"Bearer server-own-token-0123456789"}
    record = audit_lines(server.audit_log)[-1]
    assert (record["subject"], record["role"], record["transport"]) == ("team-bot", "team", "http")


def test_readyz_names_a_loki_that_is_down_to_callers_with_a_token(tmp_path: Path) -> None:
    tokens = [{"token": CALLER_TOKEN, "subject": "team-bot", "roles": ["team"]}]
    server = start_mcp_server(
        tmp_path, "loki", LOKI_POLICY, tokens, "--loki-url", "http://127.0.0.1:9"
    )
    readyz = server.url.removesuffix("/mcp") + "/readyz"
    try:
        anonymous = httpx.get(readyz, timeout=10)
        signed = httpx.get(readyz, timeout=10, headers={"Authorization": f"Bearer {CALLER_TOKEN}"})
    finally:
        server.stop()
    assert anonymous.status_code == 503 and anonymous.json() == {"status": "unavailable"}
    assert signed.status_code == 503
    assert signed.json()["detail"].startswith("Loki at http://127.0.0.1:9: unreachable")


async def test_stdio_gets_the_policys_stdio_role(fake_loki: FakeLoki, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({**LOKI_POLICY, "stdio_role": "team"}))
    audit = tmp_path / "audit.jsonl"
    command = ["-m", "autodevops.clients.cli", "serve", "loki", "--policy", str(policy)]
    command += ["--audit-log", str(audit), "--loki-url", fake_loki.url, "--loki-tenant", "fake"]
    async with Client(StdioTransport(sys.executable, command)) as client:
        result = await client.call_tool("query_logs", {"query": '{app="web"}'})
        assert "team-b-blue" in text_of(result)
    record = audit_lines(audit)[-1]
    assert record["transport"] == "stdio" and record["roles"] == ["team"]
