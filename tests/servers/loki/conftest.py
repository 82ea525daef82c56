"""The Loki server's tests: a test policy, and MCP sessions against the fake (or a real) Loki."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from autodevops.servers.loki.client import LokiClient
from autodevops.servers.loki.server import SPEC as LOKI
from tests.fakes.fake_loki import DEFAULT_TENANT, fake_loki_server, live_loki_url, loki_url
from tests.mcp_helpers import server_session

__all__ = ["fake_loki_server", "live_loki_url", "loki_url"]  # fixtures, used by name

LOKI_POLICY: dict[str, Any] = {
    "server": "loki",
    "roles": {
        "viewer": {"tools": ["*"]},
        "team": {
            "tools": ["*"],
            "scope": {"labels": {"namespace": ["team-a", "team-b-*"]}},
        },
        "other-tenant": {"tools": ["*"], "scope": {"tenant": "other"}},
        "tight": {
            "tools": ["*"],
            "scope": {"max_range": "30m", "max_lines": 3, "max_line_chars": 80},
            "limits": {"max_items": 2},
        },
        "tiny-bytes": {"tools": ["*"], "limits": {"max_bytes": 400}},
        "loose": {"tools": ["*"], "scope": {"require_selective_matcher": False}},
        "impatient": {"tools": ["*"], "limits": {"timeout_seconds": 1.5}},
    },
}

Session = tuple[Client[Any], Path]
Opener = Callable[..., AbstractAsyncContextManager[Session]]


@pytest.fixture
def loki_mcp(tmp_path: Path) -> Opener:
    """Opens an in-memory MCP session with the Loki server for one role."""

    @asynccontextmanager
    async def open_session(url: str, role: str, **client: Any) -> AsyncIterator[Session]:
        backend = LokiClient(url, tenant=client.pop("tenant", DEFAULT_TENANT), **client)
        async with server_session(LOKI, backend, LOKI_POLICY, role, tmp_path) as session:
            yield session

    return open_session
