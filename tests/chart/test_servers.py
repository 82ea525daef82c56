"""The MCP servers: their arguments, as the CLI parses them, and their policies."""

from __future__ import annotations

from pathlib import Path

import yaml

from autodevops.clients.cli import build_parser

from .helpers import (
    ALL_VALUES,
    POLICIES,
    SERVERS,
    Doc,
    chart_values,
    find,
    name_of,
    pod_specs,
    rendered_policy,
)


def test_server_arguments_are_what_the_cli_accepts(all_docs: list[Doc]) -> None:
    for server in SERVERS:
        pod = pod_specs(all_docs)[server]
        container = pod["containers"][0]
        options = build_parser().parse_args(container["args"])
        assert options.server == server
        assert (options.transport, options.host, options.port) == ("http", "0.0.0.0", 8080)
        service = name_of(server)
        assert set(options.allowed_host) == {
            service,
            f"{service}.autodevops",
            f"{service}.autodevops.svc",
            f"{service}.autodevops.svc.cluster.local",
        }
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert options.policy == Path(mounts["policy"]) / "policy.yaml"
        assert options.tokens_file == Path(mounts["tokens"]) / "tokens.yaml"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["policy"]["configMap"]["name"] == f"{service}-policy"
        assert volumes["tokens"]["secret"]["secretName"] == f"mcp-{server}-tokens"
        assert volumes["tokens"]["secret"]["items"] == [
            {"key": "tokens.yaml", "path": "tokens.yaml"}
        ]
    prometheus = build_parser().parse_args(
        pod_specs(all_docs)["prometheus"]["containers"][0]["args"]
    )
    assert prometheus.prometheus_url == "http://prometheus-operated.monitoring.svc:9090"
    assert prometheus.audit_log == Path("/tmp/audit.jsonl")
    argocd = build_parser().parse_args(pod_specs(all_docs)["argocd"]["containers"][0]["args"])
    assert argocd.mode == "core"
    loki = pod_specs(all_docs)["loki"]
    mounts = {m["name"]: m["mountPath"] for m in loki["containers"][0]["volumeMounts"]}
    options = build_parser().parse_args(loki["containers"][0]["args"])
    assert options.loki_token_file == Path(mounts["secret-files"]) / "loki-token"
    volumes = {v["name"]: v for v in loki["volumes"]}
    assert volumes["secret-files"]["secret"]["items"] == [
        {"key": "loki-token", "path": "loki-token"}
    ]


def test_the_postgres_server_reads_its_dsn_from_its_secret(all_docs: list[Doc]) -> None:
    """The DSN holds a password: a key of the server's Secret, mounted as a file, never an
    argument or a value; the server has no Kubernetes API access of its own."""
    pod = pod_specs(all_docs)["postgres"]
    container = pod["containers"][0]
    options = build_parser().parse_args(container["args"])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert options.dsn_file == Path(mounts["secret-files"]) / "dsn"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["secret-files"]["secret"] == {
        "secretName": "mcp-postgres-tokens",
        "items": [{"key": "dsn", "path": "dsn"}],
    }
    assert not [arg for arg in container["args"] if "postgresql://" in arg]
    assert pod["automountServiceAccountToken"] is False
    names = {d["metadata"]["name"] for d in all_docs if d["kind"].endswith("Binding")}
    assert not [name for name in names if "postgres" in name]


def test_policy_configmaps_embed_the_policies(all_docs: list[Doc], tmp_path: Path) -> None:
    """The shipped policy, word for word (comments too), then Jamie's `delegates` entry."""
    delegated = {
        server: entry["jamie"]["delegateRoles"]
        for server, entry in chart_values(ALL_VALUES)["servers"].items()
    }
    for server in SERVERS:
        data = find(all_docs, "ConfigMap", f"{name_of(server)}-policy")["data"]["policy.yaml"]
        shipped = (POLICIES / f"{server}.yaml").read_text().rstrip("\n")
        assert data.startswith(shipped + "\n")
        assert yaml.safe_load(data[len(shipped) :]) == {
            "delegates": [{"subject": "jamie", "roles": delegated[server]}]
        }
        policy = rendered_policy(all_docs, server, tmp_path)
        assert policy.delegable_roles("jamie") == tuple(delegated[server])
        assert policy.delegable_roles("scarlet") == ()
        deployment = find(all_docs, "Deployment", name_of(server))
        assert deployment["spec"]["template"]["metadata"]["annotations"]["checksum/policy"]


def test_mongodb_reads_its_uri_from_a_secret_and_calls_no_api(
    all_docs: list[Doc], default_docs: list[Doc]
) -> None:
    for docs, secret in ((all_docs, "mcp-mongodb-tokens"), (default_docs, name_of("mongodb"))):
        pod = pod_specs(docs)["mongodb"]
        container = pod["containers"][0]
        options = build_parser().parse_args(container["args"])
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert options.uri_file == Path(mounts["secret-files"]["mountPath"]) / "mongodb-uri"
        assert mounts["secret-files"]["readOnly"] is True
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["secret-files"]["secret"] == {
            "secretName": secret,
            "items": [{"key": "mongodb-uri", "path": "mongodb-uri"}],
        }
        assert "mongodb://" not in yaml.safe_dump(container)
        assert pod["automountServiceAccountToken"] is False
    for doc in all_docs:
        if doc["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            assert all(s.get("name") != name_of("mongodb") for s in doc.get("subjects", [])), doc
