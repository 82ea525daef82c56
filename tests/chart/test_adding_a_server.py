"""A server is its policy file and one values entry: the chart, copied without a change to
its templates, renders two made-up servers (one reading a Prometheus-compatible backend, one
calling the API server with RBAC derived from its policy) with everything the shipped servers
get, and wires them into Scarlet and Jamie."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from autodevops.clients.cli import build_parser
from autodevops.clients.jamie.config import load_config as load_jamie_config
from autodevops.clients.scarlet.config import load_config
from devstack.kube import KubeHandle
from devstack.tools import Tools

from .flows import allowed, flows, release_pod
from .helpers import (
    ALL_VALUES,
    CHART,
    RELEASE,
    SA_GROUPS,
    SA_TOKENS,
    SERVERS,
    Doc,
    derive_rbac,
    find,
    helm_refuses,
    name_of,
    network_policy,
    pod_specs,
    ports_of,
    render,
    rendered_policy,
    secret_keys,
    selects,
    server_tokens,
    split_docs,
    strip_labels,
    user_of,
)

THANOS_URL = "http://thanos-query.thanos.svc:10902"
THANOS_NAMESPACE = {"kubernetes.io/metadata.name": "thanos"}
RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "1", "memory": "128Mi"},
}
# The two entries, as a user would add them to values.yaml: `thanos` runs the Prometheus
# server against Thanos, `kube-lab` the Kubernetes server with its own policy and RBAC.
ENTRIES: dict[str, Doc] = {
    "thanos": {
        "enabled": True,
        "serve": "prometheus",
        "replicas": 1,
        "tokensKey": "tokens.yaml",
        "backend": {
            "url": THANOS_URL,
            "urlArg": "--prometheus-url",
            "namespaceSelector": {"matchLabels": THANOS_NAMESPACE},
            "ports": [10902],
        },
        "scarlet": {"roles": ["viewer"]},
        "jamie": {"roles": ["viewer"], "delegateRoles": ["team"]},
        "resources": RESOURCES,
    },
    "kube-lab": {
        "enabled": True,
        "serve": "kubernetes",
        "replicas": 1,
        "tokensKey": "tokens.yaml",
        "apiServer": True,
        "rbac": {"create": True},
        "scarlet": {"roles": ["viewer", "operator"]},
        "jamie": {"roles": ["viewer"], "delegateRoles": ["viewer"]},
        "resources": RESOURCES,
    },
}
SERVES = {"thanos": "prometheus", "kube-lab": "kubernetes"}
# What the schema asks of an entry.
ENTRY_MINIMUM = {
    "enabled": "true",
    "replicas": "1",
    "tokensKey": "tokens.yaml",
    "resources.limits.cpu": "1",
}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(chart, values): the chart copied with the new servers' policy files (and, as
    `make chart-rbac` would derive it, kube-lab's RBAC), and a values file with their entries."""
    root = tmp_path_factory.mktemp("extended")
    chart = root / "autodevops"
    shutil.copytree(CHART, chart)
    files = chart / "files"
    for server, serve in SERVES.items():
        shutil.copyfile(files / "policies" / f"{serve}.yaml", files / "policies" / f"{server}.yaml")
    policy = files / "policies" / "kube-lab.yaml"
    (files / "rbac" / "kube-lab.yaml").write_text(derive_rbac(policy))
    assert _files(chart / "templates") == _files(CHART / "templates")
    values = root / "servers.yaml"
    values.write_text(yaml.safe_dump({"servers": ENTRIES}))
    return chart, values


@pytest.fixture(scope="module")
def docs(tools: Tools, extended: tuple[Path, Path]) -> list[Doc]:
    chart, values = extended
    return split_docs(render(tools, "autodevops", str(ALL_VALUES), str(values), chart=chart))


def test_each_entry_is_a_whole_server(docs: list[Doc], tmp_path: Path) -> None:
    pods = pod_specs(docs)
    accounts = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ServiceAccount"}
    for server, serve in SERVES.items():
        name = name_of(server)
        pod = pods[server]
        options = build_parser().parse_args(pod["containers"][0]["args"])
        assert options.server == serve
        assert set(options.allowed_host) == {
            name,
            f"{name}.autodevops",
            f"{name}.autodevops.svc",
            f"{name}.autodevops.svc.cluster.local",
        }
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["policy"]["configMap"]["name"] == f"{name}-policy"
        assert volumes["tokens"]["secret"]["secretName"] == name
        assert pod["containers"][0]["resources"] == RESOURCES
        service = find(docs, "Service", name)["spec"]
        assert service["selector"]["app.kubernetes.io/component"] == server
        assert [(p["name"], p["port"]) for p in service["ports"]] == [("http", 8080)]
        # Only the server whose backend is the API server gets an API token.
        calls_api = server == "kube-lab"
        assert accounts[name]["automountServiceAccountToken"] is calls_api
        assert pod["automountServiceAccountToken"] is calls_api
        # Its policy: the copied file, then Jamie's delegated roles from its entry.
        policy = rendered_policy(docs, server, tmp_path)
        assert policy.server == serve
        delegated = ENTRIES[server]["jamie"]["delegateRoles"]
        assert policy.delegable_roles("jamie") == tuple(delegated)
        monitor = find(docs, "ServiceMonitor", name)["spec"]
        assert monitor["endpoints"][0]["port"] == "http"
        assert monitor["selector"]["matchLabels"]["app.kubernetes.io/component"] == server
    thanos = build_parser().parse_args(pods["thanos"]["containers"][0]["args"])
    assert thanos.prometheus_url == THANOS_URL


def test_entries_open_their_own_network_paths(docs: list[Doc]) -> None:
    values = yaml.safe_load(ALL_VALUES.read_text())
    api_server = [{"ipBlock": {"cidr": c}} for c in values["networkPolicy"]["apiServer"]["cidrs"]]
    for server in SERVES:
        policy = network_policy(docs, server)
        for client in ("scarlet", "jamie"):
            callers = [r for r in policy["ingress"] if any(selects(p, client) for p in r["from"])]
            assert len(callers) == 1 and ports_of(callers[0]) == {("TCP", 8080)}
            assert flows(docs, release_pod(client), release_pod(server), 8080), (client, server)
        assert len(policy["egress"]) == 2
    thanos = network_policy(docs, "thanos")["egress"][1]
    assert thanos["to"] == [{"namespaceSelector": {"matchLabels": THANOS_NAMESPACE}}]
    assert ports_of(thanos) == {("TCP", 10902)}
    querier = (THANOS_NAMESPACE, {"app": "thanos-query"})
    assert allowed(docs, "Egress", release_pod("thanos"), querier, 10902)
    assert not allowed(docs, "Egress", release_pod("thanos"), querier, 9090)
    assert not allowed(docs, "Egress", release_pod("kube-lab"), querier, 10902)
    kube_lab = network_policy(docs, "kube-lab")["egress"][1]
    assert kube_lab["to"] == api_server and ports_of(kube_lab) == {("TCP", 6443)}


def test_entries_reach_the_clients(docs: list[Doc], tmp_path: Path) -> None:
    everyone = (*SERVERS, *SERVES)
    pods = pod_specs(docs)
    for client in ("scarlet", "jamie"):
        data = find(docs, "ConfigMap", f"{name_of(client)}-config")["data"][f"{client}.yaml"]
        path = tmp_path / f"{client}.yaml"
        path.write_text(data)
        config = load_config(path) if client == "scarlet" else load_jamie_config(path, environ={})
        assert {s.name: s.url for s in config.servers} == {
            server: f"http://{name_of(server)}.autodevops.svc.cluster.local:8080/mcp"
            for server in everyone
        }
        # Jamie's Secret also holds its own token for Scarlet's API, which is not a server.
        tokens = {key for key in secret_keys(pods[client]) if key.endswith("-token")}
        own = {"scarlet-token"} if client == "jamie" else set()
        assert tokens == {f"{server}-token" for server in everyone} | own
        egress = network_policy(docs, client)["egress"]
        reached = {s for s in everyone for r in egress if any(selects(p, s) for p in r["to"])}
        assert reached == set(everyone)


def test_rbac_is_data_of_the_entry(docs: list[Doc], extended: tuple[Path, Path]) -> None:
    chart, _ = extended
    kinds = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
    name = name_of("kube-lab")
    rendered = [
        strip_labels(d) for d in docs if d["kind"] in kinds and d["metadata"]["name"] == name
    ]
    policy = chart / "files" / "policies" / "kube-lab.yaml"
    expected = split_docs(
        derive_rbac(policy, "--name", name, "--service-account", f"autodevops/{name}")
    )
    key = lambda d: (d["kind"], d["metadata"].get("namespace", ""))  # noqa: E731
    assert rendered and sorted(rendered, key=key) == sorted(expected, key=key)
    assert not [
        d for d in docs if d["kind"] in kinds and d["metadata"]["name"] == name_of("thanos")
    ]


def test_entries_get_service_account_tokens(
    tools: Tools, extended: tuple[Path, Path], tmp_path: Path
) -> None:
    chart, values = extended
    sa_docs = split_docs(
        render(tools, "autodevops", str(ALL_VALUES), str(values), SA_TOKENS, chart=chart)
    )
    pods = pod_specs(sa_docs)
    everyone = sorted((*SERVERS, *SERVES))
    for client in ("scarlet", "jamie"):
        audiences = [s["serviceAccountToken"] for s in server_tokens(pods[client])["sources"]]
        assert [(a["audience"], a["path"]) for a in audiences] == [
            (name_of(server), f"{server}-token") for server in everyone
        ]
    for server in SERVES:
        options = build_parser().parse_args(pods[server]["containers"][0]["args"])
        assert options.token_review is True and options.token_audience == [name_of(server)]
        assert pods[server]["automountServiceAccountToken"] is True
        binding = find(sa_docs, "ClusterRoleBinding", f"{name_of(server)}-auth-delegator")
        assert binding["roleRef"]["name"] == "system:auth-delegator"
        policy = rendered_policy(sa_docs, server, tmp_path)
        entry = ENTRIES[server]
        for client in ("scarlet", "jamie"):
            roles = entry[client]["roles"]
            assert policy.bound_roles(user_of(client), SA_GROUPS) == tuple(roles)
        delegated = entry["jamie"]["delegateRoles"]
        assert policy.delegable_roles(user_of("jamie")) == tuple(delegated)


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        (
            [f"servers.elastic.{key}={value}" for key, value in ENTRY_MINIMUM.items()],
            "servers.elastic: files/policies/elastic.yaml is missing: add the server's policy",
        ),
        (
            ["servers.prometheus.rbac.create=true"],
            "servers.prometheus.rbac.create: files/rbac/prometheus.yaml is missing",
        ),
    ],
)
def test_an_entry_without_its_files_is_refused(
    tools: Tools, settings: list[str], complaint: str
) -> None:
    args = ["template", RELEASE, str(CHART)] + [a for s in settings for a in ("--set", s)]
    assert complaint in helm_refuses(tools, *args)


def test_the_extended_chart_passes_server_side_dry_run(
    tools: Tools, extended: tuple[Path, Path], cluster: KubeHandle, restricted_namespace: str
) -> None:
    chart, values = extended
    for mode in ((), (SA_TOKENS,)):
        manifest = render(
            tools,
            restricted_namespace,
            str(ALL_VALUES),
            str(values),
            *mode,
            release="more",
            chart=chart,
        )
        result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
        applied = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
        assert len(applied) == len(split_docs(manifest))
        assert "PodSecurity" not in result.stderr, result.stderr
