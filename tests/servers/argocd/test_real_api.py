"""API mode against a real Argo CD (the local stack's, built from its Go module): every tool
through a real MCP client, syncs, a rollback, a refresh and a termination that the controller
really carries out on the local control plane, and Argo CD's own refusals (401, 403)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from autodevops.servers.argocd.api import ArgoApi
from autodevops.servers.argocd.server import SPEC
from autodevops.servers.core.output import parse_table
from devstack.kube import MERGE_PATCH, KubeError
from tests.mcp_helpers import call_text, server_session

from .real import ACCOUNT, APPS, NAMESPACE, REAL_POLICY, RealArgo, manifests, phase, sync_status


@asynccontextmanager
async def session(
    real: RealArgo, role: str, tmp_path: Path, token_file: Path | None = None
) -> AsyncIterator[Any]:
    backend = ArgoApi(real.argocd.url, str(token_file or real.token_file), str(real.argocd.ca_file))
    async with server_session(SPEC, backend, REAL_POLICY, role, tmp_path) as (client, _):
        yield client


def live(real: RealArgo, kind: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = real.argocd.kube.request(
        "GET", f"/api/v1/namespaces/team-a/{kind}/{name}"
    )
    return result


def drift(real: RealArgo, kind: str, name: str, data: dict[str, str]) -> None:
    """Someone edits a live object by hand, away from git."""
    real.argocd.kube.request(
        "PATCH",
        f"/api/v1/namespaces/team-a/{kind}/{name}",
        {"data": data},
        content_type=MERGE_PATCH,
    )


async def test_list_shows_what_the_controller_found(real_argo: RealArgo, tmp_path: Path) -> None:
    async with session(real_argo, "team-a", tmp_path) as client:
        text, error = await call_text(client, "list_applications", {})
    assert not error, text
    rows = {r["NAME"]: r for r in parse_table(text).records()}
    # team-b-shop (project) and platform-mail (name) are out of team-a's scope
    assert sorted(rows) == ["team-a-broken", "team-a-shop", "team-a-slow", "team-a-stuck"]
    assert (rows["team-a-stuck"]["SYNC"], rows["team-a-stuck"]["HEALTH"]) == ("Synced", "Degraded")
    assert rows["team-a-broken"]["SYNC"] == "OutOfSync"
    assert rows["team-a-stuck"]["REVISION"] == real_argo.commits[0][:8]
    assert rows["team-a-stuck"]["DESTINATION"] == "in-cluster/team-a"
    assert rows["team-a-slow"]["LAST SYNC"] == "-" and rows["team-a-stuck"]["LAST SYNC"] != "-"


async def test_list_filters(real_argo: RealArgo, tmp_path: Path) -> None:
    async with session(real_argo, "viewer", tmp_path) as client:
        text, _ = await call_text(client, "list_applications", {"selector": "team=team-b"})
        assert [r[0] for r in parse_table(text).rows] == ["team-b-shop"]
        text, _ = await call_text(client, "list_applications", {"health": "Degraded"})
        assert [r[0] for r in parse_table(text).rows] == ["team-a-stuck"]
        text, error = await call_text(client, "list_applications", {"selector": "a=b,@@"})
    assert error and "invalid argument 'selector'" in text


async def test_get_names_the_api_servers_reason_for_a_failed_sync(
    real_argo: RealArgo, tmp_path: Path
) -> None:
    async with session(real_argo, "team-a", tmp_path) as client:
        text, error = await call_text(client, "get_application", {"name": "team-a-broken"})
    assert not error, text
    lines = text.splitlines()
    assert lines[0] == f"Application {NAMESPACE}/team-a-broken  project team-a"
    assert "  Deployment team-a/broken: OutOfSync, Missing" in lines
    assert any(line.startswith("last operation: sync Failed (by admin") for line in lines)
    assert (
        '  failed: Deployment team-a/broken SyncFailed: Deployment.apps "broken" is invalid: '
        "[spec.selector: Required value" in text
    )


async def test_get_and_tree_show_a_degraded_rollout(real_argo: RealArgo, tmp_path: Path) -> None:
    async with session(real_argo, "team-a", tmp_path) as client:
        text, error = await call_text(client, "get_application", {"name": "team-a-stuck"})
        tree, _ = await call_text(client, "resource_tree", {"name": "team-a-stuck"})
    assert not error, text
    assert "health: Degraded" in text.splitlines()
    assert '  Deployment team-a/stuck: Synced, Degraded - Deployment "stuck" exceeded its ' in text
    rows = parse_table(tree).records()
    kinds = {(r["KIND"], r["HEALTH"]) for r in rows}
    assert ("Deployment", "Degraded") in kinds and ("Pod", "Progressing") in kinds
    pods = [r for r in rows if r["KIND"] == "Pod"]
    assert len(pods) == 2 and all(r["PARENT"].startswith("ReplicaSet/stuck-") for r in pods)


async def test_tree_shows_the_pods_kwok_runs(real_argo: RealArgo, tmp_path: Path) -> None:
    async with session(real_argo, "team-a", tmp_path) as client:
        text, error = await call_text(client, "resource_tree", {"name": "team-a-shop", "all": True})
    assert not error, text
    rows = parse_table(text).records()
    pods = [r for r in rows if r["KIND"] == "Pod"]
    assert len(pods) == 2 and all(r["HEALTH"] == "Healthy" for r in pods)
    assert {r["KIND"] for r in rows} >= {"Deployment", "ReplicaSet", "Service", "ConfigMap"}


async def test_events_are_the_controllers(real_argo: RealArgo, tmp_path: Path) -> None:
    async with session(real_argo, "team-a", tmp_path) as client:
        text, error = await call_text(client, "application_events", {"name": "team-a-stuck"})
    assert not error, text
    messages = {r["REASON"]: r["MESSAGE"] for r in parse_table(text).records()}
    assert messages["OperationStarted"].startswith("admin initiated sync to main")
    assert messages["OperationCompleted"].endswith("succeeded")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("team-b-shop", "its name is outside your application names"),
        ("platform-mail", "its name is outside your application names"),
    ],
)
async def test_out_of_scope_applications_are_refused(
    real_argo: RealArgo, tmp_path: Path, name: str, why: str
) -> None:
    async with session(real_argo, "team-a", tmp_path) as client:
        text, error = await call_text(client, "get_application", {"name": name})
    assert error and f"application '{name}' is outside your scope" in text and why in text


async def test_diff_sync_history_and_rollback(real_argo: RealArgo, tmp_path: Path) -> None:
    """A new commit: the diff shows it, a dry run changes nothing, the sync deploys it, the
    history grows, and a rollback deploys the earlier revision again."""
    real = real_argo
    second = real.repo.commit({"team-a-shop": manifests("debug")["team-a-shop"]}, "debug")
    real.commits.append(second)
    async with session(real, "team-a", tmp_path) as client:
        text, error = await call_text(client, "refresh_application", {"name": "team-a-shop"})
        assert not error and text == "requested a normal refresh of team-a-shop"
        real.wait("team-a-shop", lambda app: sync_status(app) == "OutOfSync", "out of sync")

        text, error = await call_text(client, "application_diff", {"name": "team-a-shop"})
        assert not error, text
        assert text.startswith("1 resources differ in team-a-shop (live -, desired +)")
        assert "-  LOG_LEVEL: info\n+  LOG_LEVEL: debug" in text

        before = real.app("team-a-shop")["status"]["operationState"]
        text, error = await call_text(
            client, "sync_application", {"name": "team-a-shop", "dry_run": True}
        )
        assert not error and text.startswith("[dry run, nothing changed] would sync team-a-shop")
        assert "  ConfigMap team-a/web-config" in text.splitlines()
        assert real.app("team-a-shop")["status"]["operationState"] == before
        assert live(real, "configmaps", "web-config")["data"]["LOG_LEVEL"] == "info"

        text, error = await call_text(client, "sync_application", {"name": "team-a-shop"})
        assert not error and text.startswith("sync started for team-a-shop"), text
        real.wait(
            "team-a-shop",
            lambda app: phase(app) == "Succeeded" and app["status"]["sync"]["revision"] == second,
            "synced to the second commit",
        )
        assert live(real, "configmaps", "web-config")["data"]["LOG_LEVEL"] == "debug"

        text, error = await call_text(client, "application_history", {"name": "team-a-shop"})
        rows = parse_table(text).records()
        assert [r["REVISION"] for r in rows[:2]] == [second[:8], real.commits[0][:8]]
        assert rows[0]["BY"] == ACCOUNT and rows[1]["BY"] == "admin"  # the server's own account
        earlier = rows[1]["ID"]

        text, error = await call_text(
            client, "rollback_application", {"name": "team-a-shop", "id": int(earlier)}
        )
        assert not error, text
        real.wait(
            "team-a-shop",
            lambda app: (
                phase(app) == "Succeeded"
                and app["status"]["operationState"]["syncResult"]["revision"] == real.commits[0]
            ),
            "rolled back",
        )
        assert live(real, "configmaps", "web-config")["data"]["LOG_LEVEL"] == "info"
        # git still says debug: after the rollback the application is out of sync with it
        real.wait("team-a-shop", lambda app: sync_status(app) == "OutOfSync", "out of sync")
        text, _ = await call_text(client, "get_application", {"name": "team-a-shop"})
    lines = text.splitlines()
    assert f"sync: OutOfSync at {second[:8]}; auto-sync off" in lines
    assert f"  revision {real.commits[0][:8]}" in lines  # what the last operation deployed


async def test_named_resources_sync_only_those(real_argo: RealArgo, tmp_path: Path) -> None:
    """Two objects drift; a sync of the Secret alone puts back the Secret only. The diff
    never shows a Secret's values (Argo CD masks them; the server names the changed keys)."""
    real = real_argo
    drift(real, "secrets", "web-creds", {"password": base64.b64encode(b"typed-by-hand").decode()})
    drift(real, "configmaps", "web-config", {"LOG_LEVEL": "trace"})
    async with session(real, "team-a", tmp_path) as client:
        await call_text(client, "refresh_application", {"name": "team-a-shop", "hard": True})
        real.wait(
            "team-a-shop",
            lambda app: (
                sum(r.get("status") == "OutOfSync" for r in app["status"]["resources"]) >= 2
            ),
            "drifted",
        )
        text, error = await call_text(client, "application_diff", {"name": "team-a-shop"})
        assert not error, text
        assert "--- Secret team-a/web-creds (values hidden; keys changed password)" in text
        assert "typed-by-hand" not in text and "hunter2" not in text
        assert "dHlwZWQ" not in text and "+  LOG_LEVEL: " in text

        secret = [{"kind": "Secret", "name": "web-creds", "namespace": "team-a"}]
        text, error = await call_text(
            client, "sync_application", {"name": "team-a-shop", "resources": secret}
        )
        assert not error and "resources: Secret team-a/web-creds" in text, text
        real.wait("team-a-shop", lambda app: phase(app) == "Succeeded", "synced")
    password = base64.b64decode(live(real, "secrets", "web-creds")["data"]["password"])
    assert password == b"hunter2-in-git"
    assert live(real, "configmaps", "web-config")["data"]["LOG_LEVEL"] == "trace"


async def test_terminate_a_running_sync(real_argo: RealArgo, tmp_path: Path) -> None:
    """team-a-slow's PreSync hook never finishes (its pod fits no node): the sync runs until
    terminated."""
    real = real_argo
    async with session(real, "team-a", tmp_path) as client:
        text, error = await call_text(client, "sync_application", {"name": "team-a-slow"})
        assert not error, text
        real.wait("team-a-slow", lambda app: phase(app) == "Running", "running its hook")
        text, error = await call_text(client, "sync_application", {"name": "team-a-slow"})
        assert error and "has an operation in progress" in text

        text, error = await call_text(
            client, "terminate_operation", {"name": "team-a-slow", "dry_run": True}
        )
        assert not error and text.startswith("[dry run, nothing changed]"), text
        assert phase(real.app("team-a-slow")) == "Running"

        text, error = await call_text(client, "terminate_operation", {"name": "team-a-slow"})
        assert not error and text.startswith("terminating the operation on team-a-slow"), text
        app = real.wait("team-a-slow", lambda app: phase(app) == "Failed", "terminated")
        assert app["status"]["operationState"]["message"] == "Operation terminated"
        text, error = await call_text(client, "terminate_operation", {"name": "team-a-slow"})
    assert error and "has no running operation to terminate (last: Failed)" in text


async def test_a_write_is_checked_against_the_current_destination(
    real_argo: RealArgo, tmp_path: Path
) -> None:
    real = real_argo

    def move(namespace: str) -> None:
        real.argocd.kube.request(
            "PATCH",
            f"{APPS}/team-a-stuck",
            {"spec": {"destination": {"namespace": namespace}}},
            content_type=MERGE_PATCH,
        )

    move("kube-system")
    try:
        async with session(real, "team-a", tmp_path) as client:
            text, error = await call_text(client, "sync_application", {"name": "team-a-stuck"})
    finally:
        move("team-a")
    assert error and "application 'team-a-stuck' is outside your scope for sync" in text
    assert "destination namespace 'kube-system' is outside your destinations" in text
    assert phase(real.app("team-a-stuck")) == "Succeeded"


async def test_a_bad_token_is_argo_cds_401_and_a_rotated_one_needs_no_restart(
    real_argo: RealArgo, tmp_path: Path
) -> None:
    token = tmp_path / "rotated.token"
    token.write_text("not-a-token-0123456789")
    async with session(real_argo, "team-a", tmp_path, token) as client:
        text, error = await call_text(client, "list_applications", {})
        assert error and "refused the server's token (HTTP 401" in text
        assert "not-a-token" not in text and "--argocd-token-file" in text
        token.write_text(real_argo.token_file.read_text())
        text, error = await call_text(client, "list_applications", {})
    assert not error and "team-a-shop" in text


@pytest.mark.parametrize("account", ["tests-admin", ACCOUNT])
async def test_a_missing_application(real_argo: RealArgo, tmp_path: Path, account: str) -> None:
    """Argo CD never says whether an application exists, to an admin neither: 403
    "permission denied"; the message says so."""
    token = real_argo.tokens / f"{account}.token"
    async with session(real_argo, "team-a", tmp_path, token) as client:
        text, error = await call_text(client, "get_application", {"name": "team-a-gone"})
    assert error and "HTTP 403: permission denied" in text
    assert "also answers 403 for an application that does not exist" in text


async def test_an_account_without_rbac_is_argo_cds_403(real_argo: RealArgo, tmp_path: Path) -> None:
    async with session(real_argo, "team-a", tmp_path, real_argo.nobody_token_file) as client:
        text, error = await call_text(client, "list_applications", {})
        assert not error and "0 applications" in text  # Argo CD lists only what RBAC allows
        text, error = await call_text(client, "get_application", {"name": "team-a-shop"})
    assert error and "refused the server's account (HTTP 403: permission denied)" in text
    assert "autodevops policy argocd-rbac" in text


async def test_tls_is_verified_against_the_ca(real_argo: RealArgo, tmp_path: Path) -> None:
    backend = ArgoApi(real_argo.argocd.url, str(real_argo.token_file))  # the system CAs only
    async with server_session(SPEC, backend, REAL_POLICY, "team-a", tmp_path) as (client, _):
        text, error = await call_text(client, "list_applications", {})
    assert error and f"Argo CD API at {real_argo.argocd.url}" in text
    assert "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower()


async def test_prune_only_when_asked(real_argo: RealArgo, tmp_path: Path) -> None:
    """The Service leaves git: a sync keeps it (prune off by default); a sync of it with
    prune=true deletes it."""
    real = real_argo
    shop = [o for o in manifests("debug")["team-a-shop"] if o["kind"] != "Service"]
    real.commits.append(real.repo.commit({"team-a-shop": shop}, "no service"))
    service = [{"kind": "Service", "name": "web", "namespace": "team-a"}]
    async with session(real, "team-a", tmp_path) as client:
        await call_text(client, "refresh_application", {"name": "team-a-shop"})
        real.wait(
            "team-a-shop",
            lambda app: any(r.get("requiresPruning") for r in app["status"]["resources"]),
            "asking to prune the Service",
        )
        text, error = await call_text(
            client, "sync_application", {"name": "team-a-shop", "dry_run": True}
        )
        assert not error and "  Service team-a/web (kept: prune off)" in text.splitlines(), text
        text, error = await call_text(client, "sync_application", {"name": "team-a-shop"})
        assert not error, text
        real.wait("team-a-shop", lambda app: phase(app) == "Succeeded", "synced")
        assert live(real, "services", "web")["metadata"]["name"] == "web"

        args = {"name": "team-a-shop", "prune": True, "resources": service}
        text, error = await call_text(client, "sync_application", args)
        assert not error, text
        real.wait("team-a-shop", lambda app: phase(app) == "Succeeded", "pruned")
    with pytest.raises(KubeError) as gone:
        live(real, "services", "web")
    assert gone.value.status == 404
