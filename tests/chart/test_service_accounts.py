"""serverAuth.mode serviceAccountTokens: projected tokens for the clients, TokenReview in the
servers, bindings in the policies; end to end, a real TokenReview server checks a token of the
chart's Jamie ServiceAccount with the policy the chart rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from autodevops.clients.cli import build_parser
from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.clients.jamie.config import load_config as load_jamie_config
from autodevops.clients.scarlet.config import load_config
from devstack.kube import KubeHandle
from devstack.services import audit_lines
from devstack.tools import Tools
from tests.conftest import HttpServer
from tests.mcp_helpers import initialize
from tests.servers.core.test_token_review import review_args

from .access import assert_never_allowed, sar
from .helpers import (
    ALL_VALUES,
    CHART,
    CLIENTS,
    POLICIES,
    RELEASE,
    SA_GROUPS,
    SA_TOKENS,
    SERVERS,
    Doc,
    chart_values,
    find,
    helm_refuses,
    name_of,
    network_policy,
    pod_specs,
    ports_of,
    render,
    rendered_policy,
    secret_keys,
    server_tokens,
    split_docs,
    user_of,
)


def test_service_account_tokens_are_projected_into_the_clients(
    sa_docs: list[Doc], all_docs: list[Doc], tools: Tools, tmp_path: Path
) -> None:
    pods = pod_specs(sa_docs)
    for client in CLIENTS:
        pod = pods[client]
        assert server_tokens(pod)["sources"] == [
            {
                "serviceAccountToken": {
                    "audience": name_of(server),
                    "expirationSeconds": 3600,
                    "path": f"{server}-token",
                }
            }
            for server in sorted(SERVERS)
        ]
        [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "server-tokens"]
        assert mount["readOnly"] is True
        data = find(sa_docs, "ConfigMap", f"{name_of(client)}-config")["data"][f"{client}.yaml"]
        path = tmp_path / f"{client}.yaml"
        path.write_text(data)
        config = load_config(path) if client == "scarlet" else load_jamie_config(path, environ={})
        assert {s.name: str(s.token_file) for s in config.servers} == {
            server: f"{mount['mountPath']}/{server}-token" for server in SERVERS
        }
        # The servers' static tokens are no longer read from the client's Secret (Jamie's own
        # token for Scarlet's API stays there: Scarlet does not review projected tokens).
        assert not {f"{s}-token" for s in SERVERS} & secret_keys(pod)
        assert {f"{s}-token" for s in SERVERS} <= secret_keys(pod_specs(all_docs)[client])
        assert "server-tokens" not in {v["name"] for v in pod_specs(all_docs)[client]["volumes"]}
    # A projected token needs no automounted API token: Jamie still has none, nor Scarlet
    # without its Lease.
    accounts = {d["metadata"]["name"]: d for d in sa_docs if d["kind"] == "ServiceAccount"}
    assert accounts[name_of("jamie")]["automountServiceAccountToken"] is False
    assert pods["jamie"]["automountServiceAccountToken"] is False
    docs = split_docs(
        render(
            tools,
            "autodevops",
            str(ALL_VALUES),
            SA_TOKENS,
            "scarlet.leaderElection.enabled=false",
            "serverAuth.tokenExpirationSeconds=7200",
            "servers.kubernetes.enabled=false",
            "servers.argocd.enabled=false",
        )
    )
    for client in CLIENTS:
        pod = pod_specs(docs)[client]
        assert server_tokens(pod)["sources"] == [
            {
                "serviceAccountToken": {
                    "audience": name_of(server),
                    "expirationSeconds": 7200,
                    "path": f"{server}-token",
                }
            }
            for server in sorted(SERVERS)
            if server not in ("kubernetes", "argocd")
        ]
        assert pod["automountServiceAccountToken"] is False


def test_service_account_tokens_are_reviewed_by_the_servers(
    sa_docs: list[Doc], all_docs: list[Doc], tools: Tools
) -> None:
    values = yaml.safe_load(ALL_VALUES.read_text())
    pods = pod_specs(sa_docs)
    accounts = {d["metadata"]["name"]: d for d in sa_docs if d["kind"] == "ServiceAccount"}
    for server in SERVERS:
        pod = pods[server]
        options = build_parser().parse_args(pod["containers"][0]["args"])
        assert options.token_review is True
        # The audience the clients' projected tokens are issued for.
        assert options.token_audience == [name_of(server)]
        assert options.tokens_file is None
        assert "tokens" not in {v["name"] for v in pod["volumes"]}
        assert "tokens" not in {m["name"] for m in pod["containers"][0]["volumeMounts"]}
        # Its own API token, for the TokenReviews, and the RBAC to create them.
        assert pod["automountServiceAccountToken"] is True
        assert accounts[name_of(server)]["automountServiceAccountToken"] is True
        binding = find(sa_docs, "ClusterRoleBinding", f"{name_of(server)}-auth-delegator")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:auth-delegator",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": name_of(server), "namespace": "autodevops"}
        ]
        default = build_parser().parse_args(pod_specs(all_docs)[server]["containers"][0]["args"])
        assert default.token_review is False and not default.token_audience
    assert not [d for d in all_docs if d["metadata"]["name"].endswith("auth-delegator")]
    # The Prometheus server now reaches the API server; with static tokens it does not.
    api_server = [{"ipBlock": {"cidr": c}} for c in values["networkPolicy"]["apiServer"]["cidrs"]]
    egress = [(r.get("to"), ports_of(r)) for r in network_policy(sa_docs, "prometheus")["egress"]]
    assert (api_server, {("TCP", 6443)}) in egress and len(egress) == 3
    assert len(network_policy(all_docs, "prometheus")["egress"]) == 2
    # keepTokensFiles: the static token files stay too, for other callers.
    keep = split_docs(
        render(tools, "autodevops", str(ALL_VALUES), SA_TOKENS, "serverAuth.keepTokensFiles=true")
    )
    for server in SERVERS:
        pod = pod_specs(keep)[server]
        options = build_parser().parse_args(pod["containers"][0]["args"])
        assert options.token_review is True
        assert options.tokens_file == Path("/var/run/secrets/autodevops/tokens.yaml")
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["tokens"]["secret"]["secretName"] == f"mcp-{server}-tokens"


def test_service_account_tokens_bind_the_clients_in_the_policies(
    sa_docs: list[Doc], tools: Tools, tmp_path: Path
) -> None:
    delegated = {
        server: entry["jamie"]["delegateRoles"]
        for server, entry in chart_values(ALL_VALUES)["servers"].items()
    }
    # The roles of the chart README's static token entries.
    scarlet = {
        "kubernetes": ("agent", "operator"),
        "prometheus": ("viewer",),
        "loki": ("viewer",),
        "tempo": ("viewer",),
        "postgres": ("viewer",),
        "argocd": ("viewer",),
        "mongodb": ("viewer",),
    }
    for server in SERVERS:
        data = find(sa_docs, "ConfigMap", f"{name_of(server)}-policy")["data"]["policy.yaml"]
        assert data.startswith((POLICIES / f"{server}.yaml").read_text())
        policy = rendered_policy(sa_docs, server, tmp_path)
        assert policy.bound_roles(user_of("scarlet"), SA_GROUPS) == scarlet[server]
        assert policy.bound_roles(user_of("jamie"), SA_GROUPS) == ("viewer",)
        assert policy.delegable_roles(user_of("jamie")) == tuple(delegated[server])
        # Nobody else: not the bare subjects of the static tokens, not another ServiceAccount
        # of the namespace, not the same names in another namespace.
        for stranger in (
            "jamie",
            "scarlet",
            "system:serviceaccount:autodevops:default",
            user_of("jamie", namespace="team-a"),
        ):
            assert policy.bound_roles(stranger, SA_GROUPS) == (), stranger
            assert policy.delegable_roles(stranger) == (), stranger
        assert policy.delegable_roles(user_of("scarlet")) == ()
    docs = split_docs(
        render(
            tools,
            "autodevops",
            str(ALL_VALUES),
            SA_TOKENS,
            "servers.kubernetes.scarlet.roles={viewer}",
            "servers.prometheus.jamie.roles=null",
        )
    )
    kubernetes = rendered_policy(docs, "kubernetes", tmp_path)
    assert kubernetes.bound_roles(user_of("scarlet"), SA_GROUPS) == ("viewer",)
    prometheus = rendered_policy(docs, "prometheus", tmp_path)
    assert prometheus.bound_roles(user_of("jamie"), SA_GROUPS) == ()
    assert prometheus.delegable_roles(user_of("jamie")) == tuple(delegated["prometheus"])


def test_service_account_tokens_refuse_unknown_roles(tools: Tools) -> None:
    settings = [
        SA_TOKENS,
        "scarlet.enabled=true",
        "servers.kubernetes.scarlet.roles={viewer,admin}",
    ]
    args = ["template", RELEASE, str(CHART)] + [a for s in settings for a in ("--set", s)]
    complaint = "servers.kubernetes.scarlet.roles: admin is not a role of files/policies/kubernetes"
    assert complaint in helm_refuses(tools, *args)


def test_service_account_tokens_release_runs_with_auth_delegator_only(
    cluster: KubeHandle, installed: tuple[str, str], installed_sa: tuple[str, str]
) -> None:
    """Installed, each server's ServiceAccount may create TokenReviews (and only with
    serviceAccountTokens); the clients' ServiceAccounts gain nothing."""
    authn = "authentication.k8s.io"
    for (namespace, release), expected in ((installed, False), (installed_sa, True)):
        for server in SERVERS:
            account = name_of(server, release)
            assert sar(cluster, namespace, account, "create", "tokenreviews", group=authn) is (
                expected
            ), (release, server)
        for client in CLIENTS:
            account = name_of(client, release)
            assert not sar(cluster, namespace, account, "create", "tokenreviews", group=authn)
    namespace, release = installed_sa
    lease = f"{name_of('scarlet', release)}-schedules"
    accounts = (*(name_of(c, release) for c in CLIENTS), name_of("prometheus", release))
    assert_never_allowed(cluster, namespace, accounts, lease)
    jamie = cluster.request(
        "GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name_of('jamie', release)}"
    )
    assert jamie["automountServiceAccountToken"] is False
    # The pods, with their projected token volumes, are admitted and run.
    selector = f"app.kubernetes.io/instance={release}"
    pods = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")
    for pod in pods["items"]:
        assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
        component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        if component in CLIENTS:
            audiences = {
                s["serviceAccountToken"]["audience"] for s in server_tokens(pod["spec"])["sources"]
            }
            assert audiences == {name_of(server, release) for server in SERVERS}


@pytest.fixture
def policy_path(tmp_path: Path, cluster: KubeHandle, installed_sa: tuple[str, str]) -> Path:
    """For conftest's start_http_server: the Prometheus server's policy exactly as the chart
    rendered it for the serviceAccountTokens release (its ConfigMap on the cluster)."""
    namespace, release = installed_sa
    configmap = cluster.request(
        "GET", f"/api/v1/namespaces/{namespace}/configmaps/{name_of('prometheus', release)}-policy"
    )
    path = tmp_path / "policy.yaml"
    path.write_text(configmap["data"]["policy.yaml"])
    return path


@pytest.fixture
def tokens_path(tmp_path: Path) -> Path:
    """For conftest's start_http_server: no static tokens at all."""
    path = tmp_path / "tokens.yaml"
    path.write_text("[]\n")
    return path


async def test_jamie_service_account_token_acts_for_a_person(
    cluster: KubeHandle,
    installed_sa: tuple[str, str],
    prometheus: Any,
    start_http_server: Any,
    tmp_path: Path,
) -> None:
    """The chart's Prometheus server, run as users run it with the chart's arguments and its
    own ServiceAccount (which holds only the chart's auth-delegator binding), verifies a token
    of the chart's Jamie ServiceAccount issued for its audience, as the kubelet would project
    it, and lets Jamie act for a person within the delegated roles."""
    namespace, release = installed_sa
    audience = name_of("prometheus", release)
    jamie = name_of("jamie", release)
    own_token = cluster.create_token(namespace, name_of("prometheus", release))
    kubeconfig = cluster.kubeconfig_for_token(own_token, tmp_path / "server.kubeconfig")
    server: HttpServer = start_http_server(prometheus.url, *review_args(kubeconfig, audience))

    def token_file(account: str, audiences: list[str], name: str) -> Path:
        path = tmp_path / name
        path.write_text(cluster.create_token(namespace, account, audiences=audiences) + "\n")
        return path

    jamie_file = token_file(jamie, [audience], "jamie-prometheus-token")
    scarlet_file = token_file(name_of("scarlet", release), [audience], "scarlet-prometheus-token")
    async with McpPool(
        [HttpEndpoint("prometheus", server.mcp_url, token_file=scarlet_file)]
    ) as pool:
        as_viewer = {tool.remote_name for tool in pool.tools()}
    assert "query" in as_viewer
    ana = HttpEndpoint(
        "prometheus", server.mcp_url, token_file=jamie_file, on_behalf_of=("ana", ("viewer",))
    )
    async with McpPool([ana]) as pool:
        assert {tool.remote_name for tool in pool.tools()} == as_viewer
        assert (await pool.call("prometheus__query", {"query": "up"})).outcome == "ok"
    record = audit_lines(server.audit_log)[-1]
    assert (record["subject"], record["actor"]) == (
        "ana",
        f"system:serviceaccount:{namespace}:{jamie}",
    )
    assert record["roles"] == ["viewer"] and record["decision"] == "allow"
    # A token for another audience (the Kubernetes server's, the API server's) is 401.
    for audiences in ([name_of("kubernetes", release)], []):
        wrong = cluster.create_token(namespace, jamie, audiences=audiences)
        assert initialize(server, wrong).status_code == 401, audiences
    # Another ServiceAccount of the namespace, with the right audience, is bound to nothing.
    stranger = token_file("default", [audience], "default-prometheus-token")
    async with McpPool([HttpEndpoint("prometheus", server.mcp_url, token_file=stranger)]) as pool:
        assert pool.tools() == []
    # Jamie rereads the file at every connection: a token for the wrong audience there is 401.
    jamie_file.write_text(
        cluster.create_token(namespace, jamie, audiences=[name_of("kubernetes", release)])
    )
    async with McpPool([ana]) as pool:
        assert pool.tools() == []
        [status] = pool.status()
        assert "HTTP 401" in status.reason, status.reason
