"""The server as an IDE assistant runs it: a subprocess over stdio, the local user's role."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from devstack.services import audit_lines
from tests.conftest import write_policy
from tests.mcp_helpers import text_of


def stdio_client(prometheus_url: str, policy: Path, audit: Path) -> Client[Any]:
    return Client(
        StdioTransport(
            sys.executable,
            [
                "-m",
                "autodevops.clients.cli",
                "serve",
                "prometheus",
                "--policy",
                str(policy),
                "--audit-log",
                str(audit),
                "--prometheus-url",
                prometheus_url,
            ],
        )
    )


async def test_stdio_uses_the_policy_stdio_role(prometheus: Any, tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "policy.yaml", stdio_role="team-a")
    audit = tmp_path / "audit.jsonl"
    async with stdio_client(prometheus.url, policy, audit) as client:
        result = await client.call_tool("query", {"query": "sum(autodevops_test_queue_depth)"})
        assert text_of(result).splitlines()[1].split() == ["{}", "3"]
    record = audit_lines(audit)[-1]
    assert record["transport"] == "stdio" and record["roles"] == ["team-a"]


async def test_stdio_without_a_role_lists_and_allows_nothing(
    prometheus: Any, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "policy.yaml", stdio_role=None)
    async with stdio_client(prometheus.url, policy, tmp_path / "audit.jsonl") as client:
        assert await client.list_tools() == []
        result = await client.call_tool("query", {"query": "up"}, raise_on_error=False)
        assert result.is_error and "not allowed" in text_of(result)
