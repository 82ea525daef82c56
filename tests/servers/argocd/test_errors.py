"""What a caller reads when Argo CD cannot answer: the API server down, or hung (the fake,
told to wait); and what the list asks Argo CD for. Argo CD's own refusals (401, 403, 404)
are tested against the real one, in test_real_api.py."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from autodevops.common.unavailable import BackendUnavailable
from autodevops.servers.argocd.api import ArgoApi
from autodevops.servers.argocd.server import SPEC
from devstack.services import audit_lines
from tests.fakes.fake_argocd import FakeArgoCD
from tests.mcp_helpers import call_text, server_session

from .conftest import token_file
from .data import POLICY

TIMEOUT_POLICY = {
    **POLICY,
    "roles": {"team-a": {**POLICY["roles"]["team-a"], "limits": {"timeout_seconds": 2}}},
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_api_server_down_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    backend = ArgoApi(url, token_file(tmp_path, "admin"))
    async with server_session(SPEC, backend, POLICY, "team-a", tmp_path) as (client, audit):
        started = time.monotonic()
        text, error = await call_text(client, "list_applications", {})
    assert time.monotonic() - started < 5
    assert error and text.startswith(f"Argo CD API at {url}: unreachable (ConnectError")
    assert "Check: that argocd-server is running and --argocd-url" in text
    assert "admin-token" not in text
    assert audit_lines(audit)[-1]["outcome"] == "backend_error"
    with pytest.raises(BackendUnavailable, match=r"127\.0\.0\.1"):
        await ArgoApi(url, None).check_ready()


async def test_a_hung_api_server_ends_within_the_call_limit(
    fake_argocd: FakeArgoCD, tmp_path: Path
) -> None:
    fake_argocd.delay = 10
    backend = ArgoApi(fake_argocd.url, token_file(tmp_path, "admin"))
    async with server_session(SPEC, backend, TIMEOUT_POLICY, "team-a", tmp_path) as (client, _):
        started = time.monotonic()
        text, error = await call_text(client, "list_applications", {})
    assert time.monotonic() - started < 4
    assert error and f"Argo CD API at {fake_argocd.url} did not answer within 2s" in text


async def test_list_asks_argocd_only_for_the_fields_it_shows(
    fake_argocd: FakeArgoCD, tmp_path: Path
) -> None:
    backend = ArgoApi(fake_argocd.url, token_file(tmp_path, "admin"))
    async with server_session(SPEC, backend, POLICY, "team-a", tmp_path) as (client, _):
        await call_text(client, "list_applications", {})
    query = dict(fake_argocd.received[-1].query)
    assert "items.spec" in query["fields"] and "items.status.resources" not in query["fields"]
    assert query["projects"] == "team-a" and query["appNamespace"] == "argocd"
