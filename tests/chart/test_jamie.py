"""Jamie's configuration, Secrets, Ingress and delegated roles, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from autodevops.clients.jamie.config import load_config as load_jamie_config
from autodevops.servers.core.identity import load_token_store
from devstack.tools import Tools

from .helpers import (
    ALL_VALUES,
    CHART,
    ON_BY_DEFAULT,
    RELEASE,
    SERVERS,
    Doc,
    find,
    helm_refuses,
    name_of,
    pod_specs,
    render,
    rendered_policy,
    split_docs,
)


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        (
            [f"servers.{server}.enabled=false" for server in SERVERS],
            "jamie needs at least one MCP server",
        ),
        (["jamie.auth.users.enabled=false"], "jamie needs a way to sign in"),
        (
            ["jamie.auth.proxy.enabled=true"],
            "jamie.auth.proxy.enabled needs jamie.auth.proxy.trustedProxies",
        ),
        (
            ["servers.kubernetes.jamie.delegateRoles={viewer,admin}"],
            "servers.kubernetes.jamie.delegateRoles: admin is not a role of "
            "files/policies/kubernetes.yaml",
        ),
        (
            ["jamie.ingress.enabled=true", "jamie.ingress.host=jamie.example.com"],
            "jamie.ingress.enabled needs jamie.ingress.tls.secretName",
        ),
        (
            ["jamie.ingress.enabled=true", "jamie.ingress.tls.secretName=jamie-tls"],
            "jamie.ingress.enabled needs jamie.ingress.host",
        ),
    ],
)
def test_jamie_refuses_incomplete_values(tools: Tools, settings: list[str], complaint: str) -> None:
    settings = ["jamie.enabled=true", *settings]
    args = ["template", RELEASE, str(CHART)] + [a for s in settings for a in ("--set", s)]
    assert complaint in helm_refuses(tools, *args)


def test_jamie_ingress_serves_the_portal_over_tls(all_docs: list[Doc], tools: Tools) -> None:
    values = yaml.safe_load(ALL_VALUES.read_text())["jamie"]["ingress"]
    ingress = find(all_docs, "Ingress", name_of("jamie"))
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["metadata"]["annotations"] == {
        **values["annotations"],
        "cert-manager.io/cluster-issuer": values["certManager"]["clusterIssuer"],
    }
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": [values["host"]], "secretName": values["tls"]["secretName"]}]
    [rule] = spec["rules"]
    assert rule["host"] == values["host"]
    [path] = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    assert path["backend"]["service"] == {"name": name_of("jamie"), "port": {"name": "portal"}}
    # Off by default, and without cert-manager no annotation of its own.
    assert not [d for d in all_docs if d["kind"] == "Ingress" and d is not ingress]
    enabled = ["jamie.enabled=true", "jamie.ingress.enabled=true"]
    plain = split_docs(
        render(
            tools,
            "autodevops",
            *enabled,
            "jamie.ingress.host=jamie.example.com",
            "jamie.ingress.tls.secretName=jamie-tls",
        )
    )
    assert "annotations" not in find(plain, "Ingress", name_of("jamie"))["metadata"]
    off = split_docs(render(tools, "autodevops", "jamie.enabled=true"))
    assert not [d for d in off if d["kind"] == "Ingress"]


def test_jamie_configuration_is_valid_and_wired(all_docs: list[Doc], tmp_path: Path) -> None:
    values = yaml.safe_load(ALL_VALUES.read_text())["jamie"]
    data = find(all_docs, "ConfigMap", f"{name_of('jamie')}-config")["data"]["jamie.yaml"]
    path = tmp_path / "jamie.yaml"
    path.write_text(data)
    config = load_jamie_config(path, environ={})
    assert config.scarlet is not None
    pod = pod_specs(all_docs)["jamie"]
    container = pod["containers"][0]
    assert container["args"] == ["jamie", "--config=/etc/autodevops/jamie.yaml"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["config"] == "/etc/autodevops"
    # Every file the configuration names is a key of a referenced Secret, and nothing else is.
    sources = {v["name"]: v for v in pod["volumes"]}["secrets"]["projected"]["sources"]
    mounted = {
        f"{mounts['secrets']}/{item['path']}": (source["secret"]["name"], item["key"])
        for source in sources
        for item in source["secret"]["items"]
    }
    assert mounted == {
        str(config.mongodb.url_file): ("jamie-mongodb", "url"),
        str(config.redis.url_file): ("jamie-redis", "redis-url"),
        str(config.auth.users_file): ("jamie-users", "users.yaml"),
    } | {str(s.token_file): ("jamie-secrets", f"{s.name}-token") for s in config.servers} | {
        str(config.scarlet.token_file): ("jamie-secrets", "scarlet-token")
    }
    assert config.scarlet.url == f"http://{name_of('scarlet')}.autodevops.svc.cluster.local:8001"
    assert {s.name: s.url for s in config.servers} == {
        server: f"http://{name_of(server)}.autodevops.svc.cluster.local:8080/mcp"
        for server in SERVERS
    }
    assert config.host == "0.0.0.0"
    service = f"{name_of('jamie')}.autodevops.svc"
    assert set(config.allowed_hosts) >= {service, f"{service}.cluster.local", name_of("jamie")}
    ingress_host = (values.get("ingress") or {}).get("host")
    assert not ingress_host or ingress_host in config.allowed_hosts
    assert (config.ports.portal, config.ports.api, config.ports.health) == (3000, 8000, 9000)
    assert config.model.host == "http://ollama.ollama.svc:11434"
    assert config.auth.proxy is not None
    assert config.auth.proxy.trusted_proxies == values["auth"]["proxy"]["trustedProxies"]
    assert config.auth.proxy.group_roles == values["auth"]["proxy"]["groupRoles"]
    # TLS ends at the ingress: the session cookie is always Secure behind it.
    assert config.auth.cookie_secure == "always"
    annotations = find(all_docs, "Deployment", name_of("jamie"))["spec"]["template"]["metadata"]
    assert annotations["annotations"]["checksum/config"]


def test_jamie_defaults_use_one_secret_and_local_users(tools: Tools, tmp_path: Path) -> None:
    docs = split_docs(render(tools, "autodevops", "jamie.enabled=true"))
    data = find(docs, "ConfigMap", f"{name_of('jamie')}-config")["data"]["jamie.yaml"]
    (tmp_path / "jamie.yaml").write_text(data)
    config = load_jamie_config(tmp_path / "jamie.yaml", environ={})
    assert config.auth.proxy is None and config.auth.cookie_secure == "auto"
    assert config.scarlet is None  # Scarlet is off by default: no pages, no token
    pod = pod_specs(docs)["jamie"]
    [source] = {v["name"]: v for v in pod["volumes"]}["secrets"]["projected"]["sources"]
    assert source["secret"]["name"] == name_of("jamie")
    assert {i["key"] for i in source["secret"]["items"]} == {
        *(f"{server}-token" for server in ON_BY_DEFAULT),
        "mongodb-url",
        "redis-url",
        "users.yaml",
    }


def test_jamie_delegates_read_only_roles_by_default(
    tools: Tools, default_docs: list[Doc], tmp_path: Path
) -> None:
    docs = split_docs(render(tools, "autodevops", "jamie.enabled=true"))
    read_only = {
        "prometheus": ("viewer", "team"),
        "kubernetes": ("viewer",),
        "loki": ("viewer", "team"),
        "tempo": ("viewer", "team"),
        "postgres": ("viewer",),
        "mongodb": ("viewer",),
    }
    for server in ON_BY_DEFAULT:
        policy = rendered_policy(docs, server, tmp_path)
        assert policy.delegable_roles("jamie") == read_only[server]
        # The token file as the chart README writes it: Jamie's entry is accepted.
        tokens = tmp_path / "tokens.yaml"
        tokens.write_text(
            f"- {{token: {'s' * 32}, subject: scarlet, roles: [viewer]}}\n"
            f"- {{token: {'j' * 32}, subject: jamie, roles: [viewer]}}\n"
        )
        principal = load_token_store(tokens, policy).resolve("j" * 32)
        assert principal is not None and principal.subject == "jamie"
        # A changed delegation rolls the server's pods.
        annotation = "checksum/policy"
        rolled = find(docs, "Deployment", name_of(server))["spec"]["template"]["metadata"]
        before = find(default_docs, "Deployment", name_of(server))["spec"]["template"]["metadata"]
        assert rolled["annotations"][annotation] != before["annotations"][annotation]
    kubernetes = rendered_policy(docs, "kubernetes", tmp_path)
    for role in read_only["kubernetes"]:
        assert set(kubernetes.roles[role].scope["verbs"]) <= {"get", "list", "watch"}
    # No roles take Jamie's delegation away on that server.
    none = split_docs(
        render(
            tools, "autodevops", "jamie.enabled=true", "servers.kubernetes.jamie.delegateRoles=null"
        )
    )
    assert rendered_policy(none, "kubernetes", tmp_path).delegable_roles("jamie") == ()
