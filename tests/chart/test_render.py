"""helm lints and renders the chart; its schema refuses wrong values."""

from __future__ import annotations

import pytest
import yaml

from devstack.tools import Tools

from .helpers import (
    ALL_VALUES,
    CHART,
    ON_BY_DEFAULT,
    RELEASE,
    SA_TOKENS,
    SERVERS,
    Doc,
    find,
    helm,
    helm_refuses,
    name_of,
)


def test_helm_lint_default_and_all_components(tools: Tools) -> None:
    for values in (
        [],
        ["--values", str(ALL_VALUES)],
        ["--values", str(ALL_VALUES), "--set", SA_TOKENS],
    ):
        out = helm(tools, "lint", "--strict", str(CHART), *values)
        assert "0 chart(s) failed" in out and "[ERROR]" not in out, out


def test_default_values_render_the_servers_only(default_docs: list[Doc]) -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in default_docs}
    for server in SERVERS:
        if server not in ON_BY_DEFAULT:
            assert not [d for d in default_docs if d["metadata"]["name"] == name_of(server)]
            continue
        for kind in ("Deployment", "Service", "ServiceAccount", "NetworkPolicy"):
            assert (kind, name_of(server)) in kinds
        assert ("ConfigMap", f"{name_of(server)}-policy") in kinds
    for agent in ("scarlet", "jamie"):
        assert not [d for d in default_docs if d["metadata"]["name"].startswith(name_of(agent))]
    for server in ON_BY_DEFAULT:
        policy = find(default_docs, "ConfigMap", f"{name_of(server)}-policy")["data"]
        assert "delegates" not in yaml.safe_load(policy["policy.yaml"])
    assert "ServiceMonitor" not in {k for k, _ in kinds}
    assert ("NetworkPolicy", f"{RELEASE}-default-deny") in kinds


def test_all_components_render_every_part(all_docs: list[Doc]) -> None:
    deployments = {d["metadata"]["name"] for d in all_docs if d["kind"] == "Deployment"}
    assert deployments == {name_of(c) for c in (*SERVERS, "scarlet", "jamie")}
    monitors = [d for d in all_docs if d["kind"] == "ServiceMonitor"]
    ports = {d["metadata"]["name"]: d["spec"]["endpoints"][0]["port"] for d in monitors}
    assert ports == {name_of(server): "http" for server in SERVERS} | {
        name_of("scarlet"): "metrics",
        name_of("jamie"): "health",
    }
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    find(all_docs, "ConfigMap", f"{name_of('scarlet')}-config")
    find(all_docs, "Role", f"{name_of('scarlet')}-leader")
    find(all_docs, "ConfigMap", f"{name_of('jamie')}-config")
    service = find(all_docs, "Service", name_of("jamie"))["spec"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["ports"]] == [
        ("portal", 3000, "portal"),
        ("api", 8000, "api"),
        ("health", 9000, "health"),
    ]


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("runAsUser=0", "/runAsUser"),
        ("servers.prometheus.replica=2", "'replica' not allowed"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("networkPolicy.apiServer.ports[0]=70000", "/networkPolicy/apiServer/ports/0"),
        ("scarlet.config.actions.rules[0].decision=maybe", "/scarlet/config/actions/rules/0"),
        ("scarlet.config.database_url=postgres://u:p@db/ops", "database_url"),
        ("servers.kubernetes.existingSecret=Not_A_Name", "/servers/kubernetes/existingSecret"),
        ("scarlet.config.model.max_steps=0", "/scarlet/config/model/max_steps"),
        ("jamie.auth.proxy.trustedProxies[0]=everyone", "/jamie/auth/proxy/trustedProxies/0"),
        ("jamie.config.mongodb.url_file=/tmp/url", "url_file"),
        ("jamie.auth.cookieSecure=sometimes", "/jamie/auth/cookieSecure"),
        ("jamie.mongodb.existingSecret=Not_A_Name", "/jamie/mongodb/existingSecret"),
        ("jamie.ingress.controllerPodSelector=null", "controllerPodSelector"),
        ("servers.prometheus.bob.roles[0]=viewer", "'bob' not allowed"),
        ("jamie.config.model.host=ollama:11434", "/jamie/config/model/host"),
        ("serverAuth.mode=serviceAccounts", "/serverAuth/mode"),
        ("serverAuth.tokenExpirationSeconds=60", "/serverAuth/tokenExpirationSeconds"),
        ("serverAuth.keepTokensFiles=yes", "/serverAuth/keepTokensFiles"),
        ("servers.prometheus.scarlet.delegateRoles[0]=viewer", "'delegateRoles' not allowed"),
        ("servers.kubernetes.jamie.roles[0]=", "/servers/kubernetes/jamie/roles/0"),
        # The servers' map: names that fit object names and are no client's, whole entries.
        ("servers.Loki.enabled=true", "'Loki' does not match pattern"),
        ("servers.jamie.enabled=true", "invalid propertyName 'jamie'"),
        ("servers.prometheus-long.enabled=true", "maxLength"),
        ("servers.elastic.enabled=true", "missing properties 'replicas', 'tokensKey', 'resources'"),
        ("servers.prometheus.backend.urlArg=null", "'urlArg' required"),
        ("servers.prometheus.backend.url=prometheus:9090", "/servers/prometheus/backend/url"),
        ("servers.kubernetes.rbac.create=maybe", "/servers/kubernetes/rbac/create"),
        ("servers.kubernetes.serve=Kube", "/servers/kubernetes/serve"),
        # The values before the servers' map are refused, not ignored.
        ("prometheus.enabled=false", "'prometheus' not allowed"),
    ],
)
def test_schema_refuses_wrong_values(tools: Tools, setting: str, complaint: str) -> None:
    out = helm_refuses(tools, "template", RELEASE, str(CHART), "--set", setting)
    assert complaint in out, out
