"""Each server's tool catalogue is committed; a change that is not recorded fails here.

The catalogue is what every model pays for in its context, so changes to names,
descriptions and schemas are reviewed as a diff. Update with `UPDATE_SNAPSHOTS=1 make test`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from autodevops.servers.core.app import build_server
from autodevops.servers.core.audit import AuditLog
from autodevops.servers.core.policy import Policy
from autodevops.servers.registry import SERVERS, load_spec
from tests.mcp_helpers import InMemory

SNAPSHOTS = Path(__file__).parent / "snapshots"


class _NoBackend:
    """Listing tools never touches a backend; this proves it by failing if it does."""

    name = "none"
    url = "none"

    async def check_ready(self) -> None:
        raise AssertionError("the backend must not be contacted")

    def scoped(self, scope: Any) -> Any:
        raise AssertionError("the backend must not be contacted")

    async def aclose(self) -> None:
        return None


async def catalogue(server_name: str, tmp_path: Path) -> list[dict[str, Any]]:
    spec = load_spec(server_name)
    policy = Policy.model_validate(
        {"server": server_name, "stdio_role": "all", "roles": {"all": {"tools": ["*"]}}}
    )
    server = build_server(spec, policy, _NoBackend(), AuditLog(tmp_path / "audit.jsonl"))
    async with Client(InMemory(server)) as client:
        tools = await client.list_tools()
    return [
        {
            "name": t.name,
            "description": t.description,
            "inputSchema": t.input_schema,
            "readOnly": t.annotations.read_only_hint if t.annotations else None,
            "destructive": t.annotations.destructive_hint if t.annotations else None,
        }
        for t in tools
    ]


@pytest.mark.parametrize("server_name", sorted(SERVERS))
async def test_catalogue_matches_the_committed_snapshot(server_name: str, tmp_path: Path) -> None:
    current = json.dumps(await catalogue(server_name, tmp_path), indent=2, sort_keys=True) + "\n"
    snapshot = SNAPSHOTS / f"{server_name}_tools.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(current)
    assert snapshot.exists(), f"no snapshot for {server_name}: run with UPDATE_SNAPSHOTS=1"
    assert current == snapshot.read_text(), (
        f"the {server_name} tool catalogue changed; review the diff and run with "
        "UPDATE_SNAPSHOTS=1 to record it"
    )
