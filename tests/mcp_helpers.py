"""Reaching MCP servers in tests: a server built in memory for one role, exactly as
`autodevops serve` builds it, and clients of a server run over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as mt
import yaml
from fastmcp import Client
from fastmcp.client.transports import ClientTransport, StreamableHttpTransport
from fastmcp.client.transports.base import TransportOptions
from mcp import ClientSession
from mcp.shared.memory import create_client_server_memory_streams

from autodevops.servers.core.app import McpServer, build_server
from autodevops.servers.core.audit import AuditLog
from autodevops.servers.core.policy import load_policy
from autodevops.servers.core.spec import ServerSpec
from autodevops.servers.prometheus.client import PrometheusClient
from autodevops.servers.prometheus.server import SPEC as PROMETHEUS
from tests.conftest import TEST_POLICY, HttpServer

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


class InMemory(ClientTransport):
    """A client session with a server in this process, over memory streams: the server runs
    its protocol loop as over stdio, so the caller is its stdio principal."""

    def __init__(self, server: McpServer) -> None:
        self.server = server.protocol

    @asynccontextmanager
    async def connect_session(
        self, *, transport_options: TransportOptions | None = None, **session_kwargs: Any
    ) -> AsyncIterator[ClientSession]:
        session_class = (transport_options or TransportOptions()).session_class
        protocol = self.server
        async with (
            create_client_server_memory_streams() as (client, served),
            anyio.create_task_group() as tasks,
        ):
            tasks.start_soon(
                protocol.run, served[0], served[1], protocol.create_initialization_options()
            )
            async with session_class(client[0], client[1], **session_kwargs) as session:
                yield session
            tasks.cancel_scope.cancel()


def client_for(url: str, token: str | None, **headers: str) -> Client[Any]:
    """An MCP client over streamable HTTP, with this bearer token (or none)."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return Client(StreamableHttpTransport(url, headers=headers))


def initialize(server: HttpServer, token: str) -> httpx.Response:
    """A raw `initialize` request, to see the HTTP status a token gets."""
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
    return httpx.post(server.mcp_url, json=INITIALIZE, headers=headers, timeout=30)


@asynccontextmanager
async def server_session(
    spec: ServerSpec, backend: Any, policy: dict[str, Any], role: str | None, workdir: Path
) -> AsyncIterator[tuple[Client[Any], Path]]:
    """A real MCP client session with a server in memory; the stdio role is `role`."""
    path = workdir / f"policy-{spec.name}-{role}.yaml"
    path.write_text(yaml.safe_dump({**policy, "stdio_role": role}), encoding="utf-8")
    audit_path = workdir / f"audit-{spec.name}-{role}.jsonl"
    audit = AuditLog(audit_path)
    server = build_server(spec, load_policy(path, spec.scope_model), backend, audit)
    try:
        async with Client(InMemory(server)) as client:
            yield client, audit_path
    finally:
        await backend.aclose()
        audit.close()


@asynccontextmanager
async def prometheus_mcp(
    prometheus_url: str, role: str, workdir: Path
) -> AsyncIterator[tuple[Client[Any], Path]]:
    async with server_session(
        PROMETHEUS, PrometheusClient(prometheus_url), TEST_POLICY, role, workdir
    ) as session:
        yield session


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


@asynccontextmanager
async def tempo_mcp(
    tempo_url: str, role: str, workdir: Path, policy: dict[str, Any], **options: Any
) -> AsyncIterator[tuple[Client[Any], Path]]:
    from autodevops.servers.tempo.client import TempoClient
    from autodevops.servers.tempo.server import SPEC as TEMPO

    async with server_session(
        TEMPO, TempoClient(tempo_url, **options), policy, role, workdir
    ) as session:
        yield session
