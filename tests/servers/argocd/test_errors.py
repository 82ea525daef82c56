"""What a caller reads when Argo CD cannot answer or refuses: the API server down or hung,
a bad token (401), the account's Argo CD RBAC (403), an application that does not exist
(404); and that the policy.csv lines derived from the policy are enough for every tool."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from autodevops.common.unavailable import BackendUnavailable
from autodevops.servers.argocd.api import ArgoApi
from autodevops.servers.argocd.server import SPEC
from devstack.services import audit_lines
from tests.fakes.fake_argocd import FakeArgoCD
from tests.mcp_helpers import call_text, server_session

from .conftest import token_file
from .data import POLICY, READ

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


async def test_bad_token_is_401_and_says_what_to_check(
    fake_argocd: FakeArgoCD, tmp_path: Path
) -> None:
    path = tmp_path / "bad.token"
    path.write_text("not-the-token-0123456789", encoding="utf-8")
    backend = ArgoApi(fake_argocd.url, str(path))
    async with server_session(SPEC, backend, POLICY, "team-a", tmp_path) as (client, _):
        text, error = await call_text(client, "list_applications", {})
        assert error and "refused the server's token (HTTP 401: invalid session" in text
        assert "not-the-token" not in text and "--argocd-token-file" in text
        path.write_text("admin-token-0123456789", encoding="utf-8")  # rotated: no restart
        text, error = await call_text(client, "list_applications", {})
    assert not error and "team-a-api" in text
    sent = {r.query and r.path for r in fake_argocd.received}
    assert sent and all("Bearer" not in str(r.body) for r in fake_argocd.received)


async def test_argocd_rbac_refusal_is_403(fake_argocd: FakeArgoCD, tmp_path: Path) -> None:
    async with server_session(
        SPEC, ArgoApi(fake_argocd.url, token_file(tmp_path, "nobody")), POLICY, "team-a", tmp_path
    ) as (client, _):
        text, error = await call_text(client, "get_application", {"name": "team-a-web"})
    assert error and "refused the server's account (HTTP 403: permission denied)" in text
    assert "`autodevops policy argocd-rbac`" in text


async def test_missing_application_is_404_for_an_admin(
    fake_argocd: FakeArgoCD, tmp_path: Path
) -> None:
    async with server_session(
        SPEC, ArgoApi(fake_argocd.url, token_file(tmp_path, "admin")), POLICY, "team-a", tmp_path
    ) as (client, audit):
        text, error = await call_text(client, "get_application", {"name": "team-a-gone"})
    assert error and "application 'team-a-gone' not found in Argo CD" in text
    assert audit_lines(audit)[-1]["outcome"] == "not_found"
    async with server_session(
        SPEC, ArgoApi(fake_argocd.url, token_file(tmp_path, "derived")), POLICY, "team-a", tmp_path
    ) as (client, _):
        text, error = await call_text(client, "get_application", {"name": "team-a-gone"})
    # Seen on Argo CD v2.14.21: an account that may get */* reads "permission denied".
    assert error and "HTTP 403: permission denied" in text
    assert "also answers 403 for an application that does not exist" in text


async def test_bad_selector_names_the_field(fake_argocd: FakeArgoCD, tmp_path: Path) -> None:
    async with server_session(
        SPEC, ArgoApi(fake_argocd.url, token_file(tmp_path, "admin")), POLICY, "viewer", tmp_path
    ) as (client, _):
        text, error = await call_text(client, "list_applications", {"selector": "a=b,@@"})
    assert error and text.startswith("invalid argument 'selector'")


async def test_the_derived_policy_csv_is_enough_for_every_allowed_tool(
    fake_argocd: FakeArgoCD, tmp_path: Path
) -> None:
    """The fake enforces exactly the lines `policy argocd-rbac` derives from POLICY."""
    backend = ArgoApi(fake_argocd.url, token_file(tmp_path, "derived"))
    async with server_session(SPEC, backend, POLICY, "team-a", tmp_path) as (client, _):
        for tool in READ:
            args = {} if tool == "list_applications" else {"name": "team-a-api"}
            text, error = await call_text(client, tool, args)
            assert not error, (tool, text)
        writes: list[tuple[str, dict[str, Any]]] = [
            ("sync_application", {"name": "team-a-web"}),
            ("rollback_application", {"name": "team-a-api", "id": 0}),
            ("refresh_application", {"name": "team-a-web"}),
            ("terminate_operation", {"name": "team-a-busy"}),
        ]
        for tool, args in writes:
            text, error = await call_text(client, tool, args)
            assert not error, (tool, text)


async def test_list_asks_argocd_only_for_the_fields_it_shows(
    fake_argocd: FakeArgoCD, tmp_path: Path
) -> None:
    backend = ArgoApi(fake_argocd.url, token_file(tmp_path, "admin"))
    async with server_session(SPEC, backend, POLICY, "team-a", tmp_path) as (client, _):
        await call_text(client, "list_applications", {})
    query = dict(fake_argocd.received[-1].query)
    assert "items.spec" in query["fields"] and "items.status.resources" not in query["fields"]
    assert query["projects"] == "team-a" and query["appNamespace"] == "argocd"
