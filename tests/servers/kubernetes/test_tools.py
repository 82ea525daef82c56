"""Every Kubernetes tool through a real MCP client against the real local control plane."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from autodevops.servers.kubernetes.client import KubeBackend
from autodevops.servers.kubernetes.server import SPEC
from devstack.services import audit_lines
from tests.kube_helpers import POLICY, create_objects, wait_for
from tests.mcp_helpers import call_text, server_session


@pytest.fixture(scope="module")
def cluster(kube: Any) -> Any:
    create_objects(kube)
    return kube


async def session(cluster: Any, role: str, tmp_path: Path) -> Any:
    return server_session(SPEC, KubeBackend(str(cluster.kubeconfig)), POLICY, role, tmp_path)


@pytest.fixture
async def reader(cluster: Any, tmp_path: Path) -> AsyncIterator[Any]:
    async with await session(cluster, "reader", tmp_path) as s:
        yield s


@pytest.fixture
async def team_a(cluster: Any, tmp_path: Path) -> AsyncIterator[Any]:
    async with await session(cluster, "team-a", tmp_path) as s:
        yield s


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line]


async def test_list_pods_across_namespaces_as_a_table(reader: Any) -> None:
    client, _ = reader
    text, error = await call_text(client, "list_resources", {"kind": "pods"})
    assert not error, text
    table = rows(text)
    assert table[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    web = [r for r in table if r[0] == "kt-a" and r[1].startswith("web-")]
    assert len(web) == 2 and all(r[3] == "Running" for r in web)
    crasher = next(r for r in table if r[1] == "crasher")
    assert crasher[3] == "CrashLoopBackOff" and crasher[4] == "5"


async def test_selectors_and_output_forms(reader: Any) -> None:
    client, _ = reader
    text, _ = await call_text(
        client, "list_resources", {"kind": "deploy", "label_selector": "tier=front"}
    )
    assert [r[:2] for r in rows(text)[1:]] == [["kt-a", "web"]]
    text, _ = await call_text(
        client,
        "list_resources",
        {
            "kind": "pods",
            "namespace": "kt-a",
            "field_selector": "spec.nodeName=ghost-node",
            "output": "names",
        },
    )
    assert rows(text) == [["NAMESPACE", "NAME"], ["kt-a", "crasher"]]
    text, _ = await call_text(
        client, "list_resources", {"kind": "configmaps", "namespace": "kt-a", "output": "yaml"}
    )
    assert "managedFields" not in text and "app-config" in text


async def test_get_drops_noise_and_redacts_secret_looking_values(reader: Any) -> None:
    client, _ = reader
    text, _ = await call_text(
        client, "get_resource", {"kind": "Deployment", "name": "web", "namespace": "kt-a"}
    )
    assert text.startswith("kind: Deployment") and "image: nginx:1.26" in text
    assert "managedFields" not in text and "last-applied-configuration" not in text
    text, _ = await call_text(
        client, "get_resource", {"kind": "cm", "name": "app-config", "namespace": "kt-a"}
    )
    assert "s3cr3t-value" not in text and "password=[REDACTED]" in text


async def test_describe_a_deployment_joins_pods_and_events(reader: Any) -> None:
    client, _ = reader
    text, _ = await call_text(
        client, "describe", {"kind": "deployments", "name": "web", "namespace": "kt-a"}
    )
    assert text.splitlines()[0] == "Deployment kt-a/web"
    assert "replicas: desired 2, ready 2" in text
    pods = [line for line in text.splitlines() if line.startswith("  web-")]
    assert len(pods) == 2 and all("Running" in p for p in pods)
    assert "ScalingReplicaSet" in text


async def test_describe_a_crashing_pod(reader: Any) -> None:
    client, _ = reader
    text, _ = await call_text(
        client, "describe", {"kind": "pod", "name": "crasher", "namespace": "kt-a"}
    )
    assert "app: waiting (CrashLoopBackOff: back-off 5m), restarts 5" in text
    assert "last terminated OOMKilled exit 137" in text
    assert "Warning  BackOff  x12  Back-off restarting failed container app" in text


async def test_events_filters(reader: Any) -> None:
    client, _ = reader
    text, _ = await call_text(client, "events", {"namespace": "kt-a", "type": "Warning"})
    table = rows(text)
    assert table[0][:4] == ["NAMESPACE", "AGE", "TYPE", "REASON"]
    assert {r[3] for r in table[1:]} == {"BackOff"}
    text, _ = await call_text(client, "events", {"namespace": "kt-a", "since": "1h"})
    assert "BackOff" not in text and "ScalingReplicaSet" in text


async def test_namespace_and_node_overviews(reader: Any) -> None:
    client, _ = reader
    text, _ = await call_text(client, "namespaces_overview", {})
    kt_a = next(r for r in rows(text) if r[0] == "kt-a")
    assert kt_a[1] == "Active" and kt_a[3] == "2/3" and kt_a[4] == "CrashLoopBackOff"
    text, _ = await call_text(client, "nodes_overview", {})
    nodes = {r[0]: r[1] for r in rows(text)[1:]}
    assert nodes["kwok-node-0"] == "Ready" and nodes["ghost-node"] == "NotReady"


async def test_rollout_status_with_revisions(reader: Any) -> None:
    client, _ = reader
    text, _ = await call_text(client, "rollout_status", {"name": "web", "namespace": "kt-a"})
    lines = text.splitlines()
    assert lines[0] == "Deployment kt-a/web: complete"
    assert lines[-2:] == ["revision 1: nginx:1.25", "revision 2: nginx:1.26"]
    arguments = {"name": "web", "namespace": "kt-a", "output": "json"}
    status = json.loads((await call_text(client, "rollout_status", arguments))[0])
    assert status["state"] == "complete" and status["message"] is None
    assert status["replicas"]["ready"] == status["replicas"]["desired"]
    assert status["revisions"] == [
        {"revision": 1, "images": ["nginx:1.25"]},
        {"revision": 2, "images": ["nginx:1.26"]},
    ]


async def test_custom_resources_are_discovered(reader: Any) -> None:
    client, _ = reader
    text, _ = await call_text(client, "api_resources", {"filter": "widget"})
    assert rows(text)[1] == ["Widget", "example.com/v1", "yes", "wdg"]
    text, _ = await call_text(client, "list_resources", {"kind": "wdg", "namespace": "kt-a"})
    assert rows(text)[0] == ["NAME", "SIZE"] and rows(text)[1][:2] == ["w1", "7"]
    text, _ = await call_text(
        client, "get_resource", {"kind": "widgets.example.com", "name": "w1", "namespace": "kt-a"}
    )
    assert "size: 7" in text


async def test_pod_logs_through_the_fake_nodes_kubelet(reader: Any, cluster: Any) -> None:
    client, _ = reader
    pod = _web_pod(cluster)
    text, error = await call_text(
        client, "pod_logs", {"name": pod, "namespace": "kt-a", "tail_lines": 3}
    )
    assert not error, text
    assert "listening on :8080" in text and "starting" not in text
    assert "hunter2" not in text and "password=[REDACTED]" in text
    text, _ = await call_text(
        client, "pod_logs", {"name": pod, "namespace": "kt-a", "grep": "ready$"}
    )
    assert text.strip().endswith("ready") and len(text.splitlines()) == 1


def _replica_sets(cluster: Any, prefix: str) -> int:
    sets = cluster.request("GET", "/apis/apps/v1/namespaces/kt-a/replicasets")["items"]
    return len([rs for rs in sets if rs["metadata"]["name"].startswith(prefix)])


def _web_pod(cluster: Any) -> str:
    pods = cluster.request("GET", "/api/v1/namespaces/kt-a/pods?labelSelector=app%3Dweb")
    return str(pods["items"][0]["metadata"]["name"])


async def test_unknown_kind_and_missing_object(reader: Any) -> None:
    client, audit = reader
    text, error = await call_text(client, "list_resources", {"kind": "gizmos"})
    assert error and text.startswith("invalid argument 'kind': 'gizmos' is not served")
    text, error = await call_text(
        client, "get_resource", {"kind": "pod", "name": "nope", "namespace": "kt-a"}
    )
    assert error and text.startswith("Pod 'nope' in namespace kt-a not found")
    assert audit_lines(audit)[-1]["outcome"] == "not_found"


SECRET_PATHS = [
    ("get_resource", {"kind": "Secret", "name": "db", "namespace": "kt-a"}),
    ("get_resource", {"kind": "secrets", "name": "db", "namespace": "kt-a", "output": "json"}),
    ("list_resources", {"kind": "secret", "namespace": "kt-a", "output": "yaml"}),
    ("list_resources", {"kind": "Secret"}),
    ("describe", {"kind": "Secret", "name": "db", "namespace": "kt-a"}),
]


@pytest.mark.parametrize(("tool", "arguments"), SECRET_PATHS)
async def test_secrets_are_denied_by_default_on_every_path(
    reader: Any, tool: str, arguments: dict[str, Any]
) -> None:
    client, audit = reader
    text, error = await call_text(client, tool, arguments)
    assert error and text == "kind Secret is outside your scope", text
    assert audit_lines(audit)[-1]["reason"] == "out_of_scope"


async def test_secret_keys_without_values(cluster: Any, tmp_path: Path) -> None:
    async with await session(cluster, "secret-keys", tmp_path) as (client, _):
        text, _ = await call_text(
            client, "get_resource", {"kind": "Secret", "name": "db", "namespace": "kt-a"}
        )
        assert "username: '<hidden: 5 bytes>'" in text and "password: [REDACTED]" in text
        assert "aHVudGVy" not in text and "YWRtaW4" not in text
        text, _ = await call_text(
            client, "list_resources", {"kind": "secrets", "namespace": "kt-a", "output": "json"}
        )
        assert '"username": "<hidden: 5 bytes>"' in text and "aHVudGVy" not in text
        text, _ = await call_text(
            client, "list_resources", {"kind": "secrets", "namespace": "kt-a"}
        )
        assert rows(text)[0] == ["NAME", "TYPE", "DATA", "AGE"] and "hunter2" not in text
    async with await session(cluster, "secret-values", tmp_path) as (client, _):
        text, _ = await call_text(
            client, "get_resource", {"kind": "Secret", "name": "db", "namespace": "kt-a"}
        )
        assert "password: aHVudGVyMg==" in text


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("list_resources", {"kind": "pods", "namespace": "kt-b"}, "namespace 'kt-b' is outside"),
        (
            "get_resource",
            {"kind": "deploy", "name": "api", "namespace": "kt-b"},
            "namespace 'kt-b'",
        ),
        ("list_resources", {"kind": "nodes"}, "Node is cluster-scoped"),
        ("get_resource", {"kind": "namespace", "name": "kube-system"}, "cluster-scoped"),
        ("events", {"namespace": "kube-system"}, "namespace 'kube-system' is outside"),
        ("cordon", {"node": "kwok-node-0", "dry_run": True}, "Node is cluster-scoped"),
        ("scale", {"name": "api", "namespace": "kt-b", "replicas": 0}, "namespace 'kt-b'"),
        (
            "get_resource",
            {"kind": "pods", "name": "../../kt-b/pods/x", "namespace": "kt-a"},
            "invalid argument 'name'",
        ),
        (
            "get_resource",
            {"kind": "pods", "name": "x", "namespace": "kt-a/../kt-b"},
            "invalid argument 'namespace'",
        ),
        (
            "get_resource",
            {"kind": "pods", "name": "%2e%2e", "namespace": "kt-a"},
            "invalid argument 'name'",
        ),
    ],
)
async def test_out_of_scope_is_refused(
    team_a: Any, tool: str, arguments: dict[str, Any], message: str
) -> None:
    client, audit = team_a
    text, error = await call_text(client, tool, arguments)
    assert error and message in text, text
    assert audit_lines(audit)[-1]["decision"] == "deny"


async def test_scoped_list_without_namespace_stays_in_scope(team_a: Any) -> None:
    client, _ = team_a
    text, _ = await call_text(client, "list_resources", {"kind": "deployments"})
    assert [r[:2] for r in rows(text)[1:]] == [["kt-a", "web"]]
    text, _ = await call_text(
        client, "list_resources", {"kind": "pods", "label_selector": "app=api"}
    )
    assert rows(text)[1:] == [["(none)"]], "a selector cannot reach kt-b's pods"


async def test_deny_glob_refuses_all_namespace_lists(cluster: Any, tmp_path: Path) -> None:
    async with await session(cluster, "not-kube-system", tmp_path) as (client, _):
        text, error = await call_text(client, "list_resources", {"kind": "pods"})
        assert error and "listing across all namespaces is outside your scope" in text
        text, error = await call_text(
            client, "list_resources", {"kind": "pods", "namespace": "kt-b"}
        )
        assert not error


async def test_apply_checks_every_document_before_sending_any(team_a: Any, cluster: Any) -> None:
    client, _ = team_a
    manifest = """
apiVersion: v1
kind: ConfigMap
metadata: {name: sneaky-first, namespace: kt-a}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: sneaky-second, namespace: kt-b}
data: {a: "1"}
"""
    text, error = await call_text(client, "apply_manifest", {"manifest": manifest})
    assert error and "namespace 'kt-b' is outside your scope" in text
    found = cluster.kubectl("-n", "kt-a", "get", "configmap", "sneaky-first", check=False)
    assert found.returncode != 0 and "NotFound" in found.stderr
    hidden_secret = manifest.replace(
        "kind: ConfigMap\nmetadata: {name: sneaky-second, namespace: kt-b}",
        "kind: Secret\nmetadata: {name: sneaky-second}",
    )
    text, error = await call_text(
        client, "apply_manifest", {"manifest": hidden_secret, "namespace": "kt-a"}
    )
    assert error and "kind Secret is outside your scope" in text


async def test_writes_with_dry_run_first(team_a: Any, cluster: Any) -> None:
    client, audit = team_a

    def replicas() -> int:
        return int(
            cluster.request("GET", "/apis/apps/v1/namespaces/kt-a/deployments/web")["spec"][
                "replicas"
            ]
        )

    text, error = await call_text(
        client, "scale", {"name": "web", "namespace": "kt-a", "replicas": 3, "dry_run": True}
    )
    assert not error and text.startswith("[dry run, nothing changed] Deployment kt-a/web")
    assert replicas() == 2
    text, _ = await call_text(client, "scale", {"name": "web", "namespace": "kt-a", "replicas": 3})
    assert replicas() == 3
    await call_text(client, "scale", {"name": "web", "namespace": "kt-a", "replicas": 2})

    text, error = await call_text(client, "rollout_restart", {"name": "web", "namespace": "kt-a"})
    assert not error
    template = cluster.request("GET", "/apis/apps/v1/namespaces/kt-a/deployments/web")
    assert (
        "kubectl.kubernetes.io/restartedAt"
        in template["spec"]["template"]["metadata"]["annotations"]
    )

    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied}\ndata: {k: v}\n"
    text, error = await call_text(
        client, "apply_manifest", {"manifest": manifest, "namespace": "kt-a", "dry_run": True}
    )
    assert text == "[dry run, nothing changed] ConfigMap kt-a/applied applied"
    assert cluster.kubectl("-n", "kt-a", "get", "cm", "applied", check=False).returncode != 0
    text, _ = await call_text(client, "apply_manifest", {"manifest": manifest, "namespace": "kt-a"})
    assert cluster.kubectl("-n", "kt-a", "get", "cm", "applied").returncode == 0

    text, _ = await call_text(
        client,
        "delete_resource",
        {"kind": "configmap", "name": "applied", "namespace": "kt-a", "dry_run": True},
    )
    assert cluster.kubectl("-n", "kt-a", "get", "cm", "applied").returncode == 0
    text, _ = await call_text(
        client, "delete_resource", {"kind": "configmap", "name": "applied", "namespace": "kt-a"}
    )
    assert cluster.kubectl("-n", "kt-a", "get", "cm", "applied", check=False).returncode != 0
    record = audit_lines(audit)[-1]
    assert record["tool"] == "delete_resource" and record["decision"] == "allow"


async def test_rollback_to_the_previous_revision(team_a: Any, cluster: Any) -> None:
    client, _ = team_a
    text, error = await call_text(client, "rollback", {"name": "api", "namespace": "kt-a"})
    assert error and "Deployment 'api' in namespace kt-a not found" in text
    cluster.kubectl("-n", "kt-a", "create", "deployment", "roll", "--image=roll:1")
    cluster.kubectl("-n", "kt-a", "set", "image", "deployment/roll", "roll=roll:2")
    wait_for(lambda: _replica_sets(cluster, "roll-") == 2, "the second revision of roll")
    text, _ = await call_text(client, "rollout_status", {"name": "roll", "namespace": "kt-a"})
    assert re.search(r"revision 2: roll:2$", text), text
    text, error = await call_text(client, "rollback", {"name": "roll", "namespace": "kt-a"})
    assert not error and "rolled back from revision 2 to 1" in text, text
    image = cluster.request("GET", "/apis/apps/v1/namespaces/kt-a/deployments/roll")["spec"][
        "template"
    ]["spec"]["containers"][0]["image"]
    assert image == "roll:1"


async def test_pagination_with_continue_froms(team_a: Any, cluster: Any) -> None:
    client, _ = team_a
    for i in range(25):
        cluster.request(
            "POST",
            "/api/v1/namespaces/kt-a/configmaps",
            {"metadata": {"name": f"page-{i:02d}", "labels": {"set": "paging"}}},
        )
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        arguments: dict[str, Any] = {
            "kind": "configmaps",
            "namespace": "kt-a",
            "label_selector": "set=paging",
            "limit": 10,
        }
        if token:
            arguments["continue_from"] = token
        text, error = await call_text(client, "list_resources", arguments)
        assert not error, text
        pages += 1
        lines = text.splitlines()
        more = [line for line in lines if line.startswith("next page")]
        seen += [r.split()[0] for r in lines[1:] if r.startswith("page-")]
        if not more:
            break
        assert len(seen) == 10 * pages
        token = more[0].split("continue_from=", 1)[1]
    assert pages == 3 and seen == [f"page-{i:02d}" for i in range(25)]
    arguments = {
        "kind": "configmaps",
        "namespace": "kt-a",
        "label_selector": "set=paging",
        "limit": 20,
        "output": "json",
    }
    first = json.loads((await call_text(client, "list_resources", arguments))[0])
    assert len(first["items"]) == 20 and first["next_page"]["continue_from"]
    arguments["continue_from"] = first["next_page"]["continue_from"]
    second = json.loads((await call_text(client, "list_resources", arguments))[0])
    assert len(second["items"]) == 5 and "next_page" not in second


async def test_cordon_and_uncordon_a_node(cluster: Any, tmp_path: Path) -> None:
    def unschedulable() -> bool:
        return bool(cluster.request("GET", "/api/v1/nodes/ghost-node")["spec"].get("unschedulable"))

    async with await session(cluster, "node-admin", tmp_path) as (client, _):
        text, error = await call_text(client, "cordon", {"node": "ghost-node", "dry_run": True})
        assert not error and text.startswith("[dry run, nothing changed] node ghost-node cordoned")
        assert not unschedulable()
        await call_text(client, "cordon", {"node": "ghost-node"})
        assert unschedulable()
        text, _ = await call_text(client, "nodes_overview", {})
        assert "NotReady,SchedulingDisabled" in text
        await call_text(client, "cordon", {"node": "ghost-node", "uncordon": True})
        assert not unschedulable()


async def test_named_namespaces_listed_in_turn_never_hand_out_a_shared_token(
    cluster: Any, tmp_path: Path
) -> None:
    async with await session(cluster, "two-teams", tmp_path) as (client, _):
        text, error = await call_text(client, "list_resources", {"kind": "configmaps", "limit": 1})
        assert not error and "continue_from" not in text
        assert {r[0] for r in rows(text)[1:] if r[0].startswith("kt-")} == {"kt-a", "kt-b"}
        assert "more objects in kt-a" in text and "list each with its namespace" in text
        text, _ = await call_text(
            client, "list_resources", {"kind": "configmaps", "limit": 1, "output": "json"}
        )
        document = json.loads(text)
        assert "next_page" not in document and "kt-a" in document["more_in_namespaces"]
