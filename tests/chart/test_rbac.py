"""The chart's policies and RBAC match their sources, and the installed ServiceAccounts may
do exactly what their policies need."""

from __future__ import annotations

from autodevops.servers.core.policy import load_policy
from autodevops.servers.kubernetes.rbac import grants
from autodevops.servers.kubernetes.scope import KubernetesScope
from autodevops.servers.registry import load_spec
from devstack.kube import KubeHandle
from devstack.tools import Tools

from .access import assert_never_allowed, sar
from .helpers import (
    ALL_VALUES,
    CHART,
    POLICIES,
    SERVERS,
    Doc,
    chart_values,
    derive_rbac,
    name_of,
    render,
    split_docs,
    strip_labels,
)


def test_chart_policies_match_policies_dir() -> None:
    """Every policy of policies/ is in the chart, word for word, and every server has one."""
    copies = sorted(path.name for path in (CHART / "files" / "policies").glob("*.yaml"))
    assert copies == sorted(path.name for path in POLICIES.glob("*.yaml")), (
        "files/policies/ differs from policies/: run `make chart-rbac`"
    )
    assert {f"{server}.yaml" for server in SERVERS} <= set(copies)
    for name in copies:
        chart_copy = CHART / "files" / "policies" / name
        assert chart_copy.read_text() == (POLICIES / name).read_text(), (
            f"{chart_copy} differs from policies/{name}: run `make chart-rbac`"
        )


def test_generated_rbac_matches_the_policies() -> None:
    """files/rbac/ holds the derivation of each policy of the chart whose server calls the
    Kubernetes API, and nothing else; each server whose entry creates RBAC has its file."""
    policies = CHART / "files" / "policies"
    derived = {
        p.name for p in policies.glob("*.yaml") if load_spec(load_policy(p).server).kubernetes_rbac
    }
    generated = {path.name for path in (CHART / "files" / "rbac").glob("*.yaml")}
    assert generated == derived, "files/rbac/ is stale: run `make chart-rbac`"
    servers = chart_values()["servers"]
    with_rbac = {name for name, entry in servers.items() if entry.get("rbac", {}).get("create")}
    assert with_rbac and {f"{name}.yaml" for name in with_rbac} <= generated
    for name in generated:
        text = (CHART / "files" / "rbac" / name).read_text()
        assert text == derive_rbac(policies / name), (
            f"files/rbac/{name} is stale: run `make chart-rbac`"
        )


def test_rendered_rbac_is_exactly_the_derivation(all_docs: list[Doc]) -> None:
    """The chart's Roles, ClusterRoles and bindings are what `autodevops policy rbac` prints
    for each server's ServiceAccount, object for object, rule for rule."""
    kinds = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
    servers = chart_values(ALL_VALUES)["servers"]
    with_rbac = [name for name, entry in servers.items() if entry.get("rbac", {}).get("create")]
    assert "kubernetes" in with_rbac
    for server in with_rbac:
        name = name_of(server)
        rendered = [
            strip_labels(d)
            for d in all_docs
            if d["kind"] in kinds and d["metadata"]["name"] == name
        ]
        policy = CHART / "files" / "policies" / f"{server}.yaml"
        expected = split_docs(
            derive_rbac(policy, "--name", name, "--service-account", f"autodevops/{name}")
        )
        key = lambda d: (d["kind"], d["metadata"].get("namespace", ""))  # noqa: E731
        assert sorted(rendered, key=key) == sorted(expected, key=key)
        for doc in rendered:
            for rule in doc.get("rules", []):
                assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]


def test_no_rbac_when_disabled(tools: Tools) -> None:
    docs = split_docs(render(tools, "autodevops", "servers.kubernetes.rbac.create=false"))
    assert not [d for d in docs if d["kind"].endswith(("Role", "RoleBinding"))]


def test_kubernetes_server_account_has_exactly_its_policy(
    cluster: KubeHandle, installed: tuple[str, str]
) -> None:
    namespace, release = installed
    account = name_of("kubernetes", release)
    policy = load_policy(CHART / "files" / "policies" / "kubernetes.yaml", KubernetesScope)
    needed = grants(policy)
    assert needed
    for grant in needed:
        assert sar(
            cluster,
            namespace,
            account,
            grant.verb,
            grant.resource,
            group=grant.group,
            target_namespace=grant.namespace or "",
        ), grant
    dangerous = [
        ("get", "secrets", "", ""),
        ("list", "secrets", "", "team-a"),
        ("get", "secrets", "", namespace),
        ("create", "pods/exec", "", "team-a"),
        ("create", "pods/attach", "", "team-a"),
        ("create", "pods/portforward", "", "team-a"),
        ("impersonate", "users", "", ""),
        ("impersonate", "serviceaccounts", "", "team-a"),
        ("impersonate", "groups", "", ""),
        ("escalate", "clusterroles", "rbac.authorization.k8s.io", ""),
        ("bind", "clusterroles", "rbac.authorization.k8s.io", ""),
        ("escalate", "roles", "rbac.authorization.k8s.io", "team-a"),
        ("bind", "roles", "rbac.authorization.k8s.io", "team-a"),
        ("create", "clusterrolebindings", "rbac.authorization.k8s.io", ""),
        ("create", "rolebindings", "rbac.authorization.k8s.io", "team-a"),
        ("patch", "nodes", "", ""),  # cordon is not in the policy
        ("delete", "pods", "", "team-a"),
        ("create", "deployments", "apps", "team-a"),
        ("*", "deployments", "apps", "team-a"),
        ("*", "*", "*", ""),
        ("create", "serviceaccounts/token", "", "team-a"),
        # Writes the operator role has in its team namespaces, and nowhere else.
        ("patch", "deployments", "apps", "team-c"),
        ("patch", "deployments/scale", "apps", namespace),
        ("patch", "deployments", "apps", ""),
    ]
    for verb, resource, group, target in dangerous:
        assert not sar(
            cluster, namespace, account, verb, resource, group=group, target_namespace=target
        ), (verb, resource, target)


def test_prometheus_server_scarlet_and_jamie_accounts_are_least_privilege(
    cluster: KubeHandle, installed: tuple[str, str]
) -> None:
    namespace, release = installed
    prometheus = name_of("prometheus", release)
    loki = name_of("loki", release)
    scarlet = name_of("scarlet", release)
    jamie = name_of("jamie", release)
    account = cluster.request("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/{jamie}")
    assert account["automountServiceAccountToken"] is False
    lease = f"{scarlet}-schedules"
    coordination = "coordination.k8s.io"
    for verb, name in (("create", ""), ("get", lease), ("update", lease)):
        assert sar(
            cluster,
            namespace,
            scarlet,
            verb,
            "leases",
            group=coordination,
            target_namespace=namespace,
            name=name,
        ), (verb, name)
    assert_never_allowed(cluster, namespace, (scarlet, prometheus, loki, jamie), lease)
    # The Prometheus and Loki servers and Jamie call no API at all: not even their
    # namespace's Lease.
    for account in (prometheus, loki, jamie):
        assert not sar(
            cluster,
            namespace,
            account,
            "create",
            "leases",
            group=coordination,
            target_namespace=namespace,
        ), account
