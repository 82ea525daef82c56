"""The writes in both modes: what a sync, rollback, refresh and termination store, that a dry
run stores nothing, and that each is checked against the application as it is now."""

from __future__ import annotations

from typing import Any

import pytest

from tests.mcp_helpers import call_text

from .conftest import APPS, Mode
from .data import SHAS


def _unchanged(mode: Mode, before: dict[str, Any], name: str) -> None:
    after = mode.stored(name)
    assert after == before
    if mode.fake is not None:
        assert [r for r in mode.fake.received if r.method != "GET"] == []


def _move(mode: Mode, name: str, destination: str) -> None:
    """Someone changes the application's destination behind the server's back."""
    if mode.fake is not None:
        app = mode.fake.app(name)
        app["spec"]["destination"]["namespace"] = destination
        mode.fake.add(app)
        return
    mode.kube.request(
        "PATCH",
        f"{APPS}/{name}",
        {"spec": {"destination": {"namespace": destination}}},
        content_type="application/merge-patch+json",
    )


async def test_dry_run_sync_changes_nothing_and_plans(mode: Mode) -> None:
    before = mode.stored("team-a-api")
    async with mode.session("team-a") as client:
        text, error = await call_text(
            client, "sync_application", {"name": "team-a-api", "dry_run": True}
        )
    assert not error, text
    lines = text.splitlines()
    assert lines[0] == (
        "[dry run, nothing changed] would sync team-a-api (project team-a, destination "
        "in-cluster/team-a) to its target revision, prune off"
    )
    assert "out of sync now: 4 of 5 resources" in lines
    assert "  ConfigMap team-a/old-config (kept: prune off)" in lines
    _unchanged(mode, before, "team-a-api")


async def test_sync_writes_the_operation_prune_off(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(client, "sync_application", {"name": "team-a-web"})
    assert not error, text
    assert text.startswith("sync started for team-a-web")
    operation = mode.stored("team-a-web")["operation"]
    assert operation["sync"]["prune"] is False and "resources" not in operation["sync"]
    if mode.fake is not None:
        posted = [r for r in mode.fake.received if r.method == "POST"]
        assert [r.path for r in posted] == ["/api/v1/applications/team-a-web/sync"]
        assert posted[0].body["project"] == "team-a" and posted[0].body["dryRun"] is False
    else:
        assert operation["initiatedBy"] == {"username": "autodevops"}


async def test_sync_of_named_resources_with_prune(mode: Mode) -> None:
    resources = [{"kind": "ConfigMap", "name": "old-config", "namespace": "team-a"}]
    async with mode.session("team-a") as client:
        text, error = await call_text(
            client,
            "sync_application",
            {"name": "team-a-api", "prune": True, "resources": resources},
        )
        assert not error, text
        assert "resources: ConfigMap team-a/old-config" in text
        sync = mode.stored("team-a-api")["operation"]["sync"]
        assert sync["prune"] is True
        assert sync["resources"] == [
            {"group": "", "kind": "ConfigMap", "name": "old-config", "namespace": "team-a"}
        ]
        text, error = await call_text(
            client,
            "sync_application",
            {
                "name": "team-a-web",
                "resources": [{"kind": "Secret", "name": "x", "namespace": "team-a"}],
            },
        )
    assert error and "invalid argument 'resources': Secret team-a/x is not a resource" in text


async def test_a_write_is_checked_against_the_current_destination(mode: Mode) -> None:
    _move(mode, "team-a-web", "kube-system")
    before = mode.stored("team-a-web")
    async with mode.session("team-a") as client:
        for tool, extra in [
            ("sync_application", {}),
            ("rollback_application", {"id": 1}),
            ("refresh_application", {}),
        ]:
            text, error = await call_text(client, tool, {"name": "team-a-web", **extra})
            assert error, text
            verb = tool.split("_")[0]
            assert f"application 'team-a-web' is outside your scope for {verb}" in text
            assert "destination namespace 'kube-system' is outside your destinations" in text
    _unchanged(mode, before, "team-a-web")


async def test_sync_refused_while_an_operation_runs(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(client, "sync_application", {"name": "team-a-busy"})
    assert error and "has an operation in progress" in text


async def test_rollback_to_a_history_id(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(
            client, "rollback_application", {"name": "team-a-web", "id": 1, "dry_run": True}
        )
        assert not error, text
        assert text.startswith(
            "[dry run, nothing changed] would roll back team-a-web from c3d4e5f6"
        )
        assert "operation" not in mode.stored("team-a-web")
        text, error = await call_text(
            client, "rollback_application", {"name": "team-a-web", "id": 1}
        )
        assert not error, text
        sync = mode.stored("team-a-web")["operation"]["sync"]
        assert sync["revision"] == SHAS[1] and sync["prune"] is False
        assert sync["source"]["path"] == "apps/team-a-web"
        text, error = await call_text(
            client, "rollback_application", {"name": "team-a-api", "id": 9}
        )
        assert error and "invalid argument 'id': no history entry 9 (known: 0, 1, 2)" in text
        text, error = await call_text(
            client, "rollback_application", {"name": "team-a-auto", "id": 1}
        )
    assert error and "has automated sync on" in text


async def test_refresh(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(
            client, "refresh_application", {"name": "team-a-web", "hard": True, "dry_run": True}
        )
        assert text == "[dry run, nothing changed] would request a hard refresh of team-a-web"
        annotations = mode.stored("team-a-web")["metadata"].get("annotations") or {}
        assert "argocd.argoproj.io/refresh" not in annotations
        text, error = await call_text(
            client, "refresh_application", {"name": "team-a-web", "hard": True}
        )
    assert not error and text == "requested a hard refresh of team-a-web"
    assert (
        mode.stored("team-a-web")["metadata"]["annotations"]["argocd.argoproj.io/refresh"] == "hard"
    )


async def test_terminate_a_running_operation(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(
            client, "terminate_operation", {"name": "team-a-busy", "dry_run": True}
        )
        assert not error, text
        assert mode.stored("team-a-busy")["status"]["operationState"]["phase"] == "Running"
        text, error = await call_text(client, "terminate_operation", {"name": "team-a-busy"})
        assert not error and text.startswith("terminating the operation on team-a-busy")
        assert mode.stored("team-a-busy")["status"]["operationState"]["phase"] == "Terminating"
        text, error = await call_text(client, "terminate_operation", {"name": "team-a-web"})
    assert error and "has no running operation to terminate (last: Succeeded)" in text


@pytest.mark.parametrize("tool", ["sync_application", "refresh_application", "terminate_operation"])
async def test_writes_refused_outside_the_projects(mode: Mode, tool: str) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(client, tool, {"name": "team-b-web"})
    assert error and "application 'team-b-web' is outside your scope" in text
