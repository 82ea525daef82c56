"""Building a server in memory for one role, exactly as `autodevops serve` builds it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types as mt
from fastmcp import Client

from autodevops.servers.core.app import build_server
from autodevops.servers.core.audit import AuditLog
from autodevops.servers.core.policy import load_policy
from autodevops.servers.prometheus.client import PrometheusClient
from autodevops.servers.prometheus.server import SPEC

from .conftest import write_policy


@asynccontextmanager
async def prometheus_mcp(
    prometheus_url: str, role: str, workdir: Path
) -> AsyncIterator[tuple[Client[Any], Path]]:
    """A real MCP client session with the server in memory; the stdio role is `role`."""
    policy = load_policy(write_policy(workdir / f"policy-{role}.yaml", role), SPEC.scope_model)
    audit_path = workdir / f"audit-{role}.jsonl"
    audit = AuditLog(audit_path)
    backend = PrometheusClient(prometheus_url)
    server, _ = build_server(SPEC, policy, backend, audit)
    try:
        async with Client(server) as client:
            yield client, audit_path
    finally:
        await backend.aclose()
        audit.close()


def text_of(result: Any) -> str:
    """The one text block of a tool result: results are sent once, as text."""
    assert len(result.content) == 1, "a result is sent once, as one text block"
    assert result.structured_content is None
    block = result.content[0]
    assert isinstance(block, mt.TextContent)
    return block.text


async def call_text(client: Client[Any], tool: str, arguments: dict[str, Any]) -> tuple[str, bool]:
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    return text_of(result), result.is_error


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
