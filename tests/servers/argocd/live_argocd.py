"""Opt-in: the API-mode client against a real Argo CD API server.

Not collected by default (the name does not start with `test_`); run it by path:

    ARGOCD_URL=https://argocd.example.com ARGOCD_TOKEN_FILE=token \
        pytest tests/servers/argocd/live_argocd.py

Without ARGOCD_URL every test fails, saying so. The tests read every application the token
may see, and run dry runs only: nothing is changed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from autodevops.servers.argocd.api import ArgoApi
from autodevops.servers.argocd.server import SPEC
from autodevops.servers.argocd.tools import READ_TOOLS
from autodevops.servers.core.output import parse_table
from tests.mcp_helpers import call_text, server_session

POLICY: dict[str, Any] = {
    "server": "argocd",
    "roles": {
        "live": {
            "tools": [*(t.name for t in READ_TOOLS), "sync_application", "refresh_application"],
            "scope": {"app_namespaces": {"allow": ["*"]}},
        }
    },
}


def _backend() -> ArgoApi:
    url = os.environ.get("ARGOCD_URL")
    assert url, "set ARGOCD_URL (and ARGOCD_TOKEN_FILE, ARGOCD_CA_FILE) to run the live tests"
    return ArgoApi(url, os.environ.get("ARGOCD_TOKEN_FILE"), os.environ.get("ARGOCD_CA_FILE"))


async def test_every_read_tool_and_a_dry_run(tmp_path: Path) -> None:
    backend = _backend()
    await backend.check_ready()
    async with server_session(SPEC, backend, POLICY, "live", tmp_path) as (client, _):
        text, error = await call_text(client, "list_applications", {})
        assert not error, text
        rows = parse_table(text).records()
        assert rows, "the token sees no application; give it one to read"
        name = rows[0]["NAME"]
        for tool in READ_TOOLS[1:]:
            text, error = await call_text(client, tool.name, {"name": name})
            assert not error, (tool.name, text)
        before, _ = await call_text(client, "get_application", {"name": name})
        for write in ("sync_application", "refresh_application"):
            text, error = await call_text(client, write, {"name": name, "dry_run": True})
            assert not error and text.startswith("[dry run, nothing changed]"), text
        after, _ = await call_text(client, "get_application", {"name": name})
    assert before.splitlines()[:3] == after.splitlines()[:3]
