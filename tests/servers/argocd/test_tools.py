"""Every Argo CD tool in both modes, through a real MCP client: core mode against the real
control plane with Argo CD's CRDs, API mode against the fake API server."""

from __future__ import annotations

import json

import pytest

from autodevops.servers.core.output import parse_table
from tests.mcp_helpers import call_text

from .conftest import Mode

pytestmark = pytest.mark.usefixtures("mode")


async def test_list_is_one_row_per_application_in_scope(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(client, "list_applications", {})
    assert not error, text
    table = parse_table(text)
    assert table.columns == [
        "NAME", "PROJECT", "SYNC", "HEALTH", "REVISION", "DESTINATION", "LAST SYNC"
    ]  # fmt: skip
    names = [r["NAME"] for r in table.records()]
    # team-a-moved (destination kube-system), team-b-web (project), platform-dns (name): hidden
    assert names == ["team-a-api", "team-a-auto", "team-a-busy", "team-a-web"]
    api = table.records()[0]
    assert api["SYNC"] == "OutOfSync" and api["HEALTH"] == "Degraded"
    assert api["REVISION"] == "c3d4e5f6" and api["DESTINATION"] == "in-cluster/team-a"
    assert api["LAST SYNC"] == "2026-11-30 09:00Z"
    assert table.notes[0] == (
        "4 applications; sync: 1 OutOfSync, 3 Synced; health: 1 Degraded, 3 Healthy"
    )


async def test_list_filters_and_pages(mode: Mode) -> None:
    async with mode.session("viewer") as client:
        text, _ = await call_text(client, "list_applications", {"sync_status": "OutOfSync"})
        assert [r[0] for r in parse_table(text).rows] == ["team-a-api"]
        text, _ = await call_text(client, "list_applications", {"selector": "team=team-b"})
        assert [r[0] for r in parse_table(text).rows] == ["team-b-web"]
        text, _ = await call_text(client, "list_applications", {"project": "team-b"})
        assert [r[0] for r in parse_table(text).rows] == ["team-b-web"]
        text, _ = await call_text(client, "list_applications", {"limit": 2, "offset": 2})
        table = parse_table(text)
        assert [r[0] for r in table.rows] == ["team-a-auto", "team-a-busy"]
        assert "rows 3-4 of 7; next page: offset=4" in table.notes


async def test_list_refuses_a_project_outside_the_scope(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(client, "list_applications", {"project": "team-b"})
    assert error and "invalid argument 'project'" in text and "outside your scope" in text


async def test_get_names_bad_resources_and_the_failed_operation(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(client, "get_application", {"name": "team-a-api"})
    assert not error, text
    lines = text.splitlines()
    assert lines[0] == "Application argocd/team-a-api  project team-a"
    assert "sync: OutOfSync at c3d4e5f6; auto-sync off" in lines
    assert "health: Degraded" in lines
    assert (
        "  SyncError (2026-11-30 09:00Z): Failed sync attempt: one or more objects failed to apply"
        in lines
    )
    assert "resources not synced or not healthy: 4 of 5" in lines
    assert (
        '  Deployment team-a/api: OutOfSync, Degraded - Deployment "api" exceeded its progress '
        "deadline" in lines
    )
    assert "  ConfigMap team-a/old-config: OutOfSync, -, requires pruning" in lines
    assert any(line.startswith("last operation: sync Failed (by bob") for line in lines)
    assert (
        "  failed: Deployment team-a/api SyncFailed: spec.template.spec.containers[0].image: "
        "Required value" in lines
    )


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("team-a-moved", "destination namespace 'kube-system' is outside your destinations"),
        ("team-b-web", "its name is outside your application names"),
        ("platform-dns", "its name is outside your application names"),
    ],
)
async def test_get_refuses_applications_out_of_scope(mode: Mode, name: str, why: str) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(client, "get_application", {"name": name})
    assert error and f"application '{name}' is outside your scope" in text and why in text


async def test_project_scope_is_checked_on_the_application_itself(mode: Mode) -> None:
    """A name in scope does not help when the application sits in another project."""
    app = mode.stored("team-a-web")
    app["spec"]["project"] = "team-b"
    if mode.fake is not None:
        mode.fake.add(app)
    else:
        mode.kube.request(
            "PATCH",
            "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/team-a-web",
            {"spec": {"project": "team-b"}},
            content_type="application/merge-patch+json",
        )
    async with mode.session("team-a") as client:
        text, error = await call_text(client, "application_history", {"name": "team-a-web"})
    assert error and "its project 'team-b' is outside your projects (team-a)" in text


async def test_history_newest_first_with_ids(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(client, "application_history", {"name": "team-a-web"})
    assert not error, text
    table = parse_table(text)
    assert [r[0] for r in table.rows] == ["2", "1", "0"]
    top = table.records()[0]
    assert top["REVISION"] == "c3d4e5f6" and top["DEPLOYED"] == "2026-11-22 10:00Z"
    assert top["SOURCE"] == "https://git.example.com/platform/deploy.git apps/team-a-web@main"
    assert table.records()[1]["BY"] == "alice" and top["BY"] == "automated"


async def test_diff(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(client, "application_diff", {"name": "team-a-api"})
    assert not error, text
    if mode.name == "core":
        assert text.splitlines() == [
            "4 resources out of sync in team-a-api (core mode: the Application's status names "
            "them but holds no manifests, so no line diff; API mode gives one):",
            "  Deployment team-a/api",
            "  ConfigMap team-a/api-config",
            "  Secret team-a/api-creds",
            "  ConfigMap team-a/old-config (requires pruning)",
        ]
        return
    assert text.startswith("4 resources differ in team-a-api (live -, desired +)")
    assert "-      - image: registry.example.com/api:1.4.1" in text
    assert "+      - image: registry.example.com/api:1.5.0" in text
    assert "-  replicas: 2\n+  replicas: 3" in text
    assert "managedFields" not in text and "resourceVersion" not in text and "status" not in text
    assert "-  LOG_LEVEL: info\n+  LOG_LEVEL: debug" in text
    assert "--- ConfigMap team-a/old-config: not in git any more, would be pruned" in text
    # Secret values never appear; the changed key is named
    assert "b2xk" not in text and "bmV3" not in text and "YXBp" not in text
    assert "--- Secret team-a/api-creds (values hidden; keys changed password)" in text
    assert "Service team-a/api" not in text  # in sync: no diff


async def test_diff_is_bounded(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, _ = await call_text(
            client, "application_diff", {"name": "team-a-api", "max_lines": 5, "max_resources": 1}
        )
    if mode.name == "api":
        assert "--- Deployment team-a/api" in text and "more diff lines; raise max_lines]" in text
        assert "[3 more resources not shown; name kind or resource_name]" in text
        assert "api-config" not in text
    async with mode.session("team-a") as client:
        text, _ = await call_text(
            client, "application_diff", {"name": "team-a-api", "kind": "configmap"}
        )
    assert "api-config" in text and "Deployment" not in text


async def test_resource_tree_shows_unhealthy_nodes(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, _ = await call_text(client, "resource_tree", {"name": "team-a-api"})
        every, _ = await call_text(client, "resource_tree", {"name": "team-a-api", "all": True})
    table = parse_table(text)
    if mode.name == "api":
        assert [(r["KIND"], r["HEALTH"]) for r in table.records()] == [
            ("Deployment", "Degraded"),
            ("ReplicaSet", "Progressing"),
            ("Pod", "Degraded"),
        ]
        pod = table.records()[2]
        assert pod["PARENT"] == "ReplicaSet/api-7d9f" and "restarting failed" in pod["MESSAGE"]
        assert "3 of 5 nodes not healthy; all=true shows every node" in table.notes
        assert len(parse_table(every).rows) == 5
    else:
        assert [(r["KIND"], r["HEALTH"]) for r in table.records()] == [("Deployment", "Degraded")]
        assert table.notes[0].startswith("core mode: the managed resources only")
        assert len(parse_table(every).rows) == 2  # the resources with a health


async def test_events_newest_first(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(client, "application_events", {"name": "team-a-api"})
    assert not error, text
    table = parse_table(text)
    assert [r["REASON"] for r in table.records()] == [
        "ResourceUpdated",
        "OperationCompleted",
        "OperationStarted",
    ]
    assert table.records()[1]["TYPE"] == "Warning"


async def test_a_read_only_role_cannot_see_the_writes(mode: Mode) -> None:
    async with mode.session("reads-only") as client:
        names = {t.name for t in await client.list_tools()}
        text, error = await call_text(client, "sync_application", {"name": "team-a-web"})
    assert "sync_application" not in names and "list_applications" in names
    assert error and "not allowed" in text


async def test_get_as_json_for_programs(mode: Mode) -> None:
    async with mode.session("team-a") as client:
        text, error = await call_text(
            client, "get_application", {"name": "team-a-api", "output": "json"}
        )
    assert not error, text
    state = json.loads(text)
    assert (state["sync"], state["health"], state["revision"]) == (
        "OutOfSync",
        "Degraded",
        "c3d4e5f6",
    )
    assert [r["name"] for r in state["problem_resources"]] == [
        "api",
        "api-config",
        "api-creds",
        "old-config",
    ]
    operation = state["last_operation"]
    assert operation["phase"] == "Failed" and operation["by"] == "bob"
    assert (
        operation["failed"][0]["message"]
        == "spec.template.spec.containers[0].image: Required value"
    )
