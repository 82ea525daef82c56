"""Rendering the chart with helm and reading back what it rendered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from autodevops.servers.core.policy import load_policy
from autodevops.servers.registry import load_spec
from devstack.kube import KubeHandle
from devstack.tools import Tools

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "autodevops"
ALL_VALUES = CHART / "ci" / "all-values.yaml"
POLICIES = ROOT / "policies"
RELEASE = "autodevops"
# The chart's servers: the entries of its values, every one checked the same way.
SERVERS = tuple(yaml.safe_load((CHART / "values.yaml").read_text())["servers"])
# Those on with the chart's defaults (the others, like argocd, need something installed first).
ON_BY_DEFAULT = tuple(
    name
    for name, entry in yaml.safe_load((CHART / "values.yaml").read_text())["servers"].items()
    if entry["enabled"]
)
# The ingress controller the chart lets reach Jamie's portal by default (ingress-nginx).
INGRESS_NGINX = (
    {"kubernetes.io/metadata.name": "ingress-nginx"},
    {"app.kubernetes.io/name": "ingress-nginx"},
)
# The namespaces the shipped policies name (the Kubernetes operator role's, Argo CD's).
TEAM_NAMESPACES = ("team-a", "team-b", "argocd")
# Scarlet and Jamie authenticate with projected ServiceAccount tokens.
SA_TOKENS = "serverAuth.mode=serviceAccountTokens"
CLIENTS = ("scarlet", "jamie")
# The groups the API server gives every ServiceAccount of the namespace `autodevops`.
SA_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:autodevops", "system:authenticated")

Doc = dict[str, Any]


def helm(tools: Tools, *args: str, kube: KubeHandle | None = None, check: bool = True) -> str:
    env = {**os.environ}
    if kube is not None:
        env["KUBECONFIG"] = str(kube.kubeconfig)
    result = subprocess.run(
        [str(tools.helm), *args], capture_output=True, text=True, env=env, check=False
    )
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}"
    return result.stdout if check else result.stdout + result.stderr


def helm_refuses(tools: Tools, *args: str) -> str:
    """helm's complaint when it must fail."""
    result = subprocess.run([str(tools.helm), *args], capture_output=True, text=True, check=False)
    assert result.returncode != 0, f"helm {' '.join(args)} succeeded"
    return result.stderr


def render(
    tools: Tools, namespace: str, *values: str, release: str = RELEASE, chart: Path = CHART
) -> str:
    """`helm template`; a value with `=` is a --set, anything else a values file."""
    args = ["template", release, str(chart), "--namespace", namespace]
    for item in values:
        args += ["--set", item] if "=" in item else ["--values", item]
    return helm(tools, *args)


def split_docs(text: str) -> list[Doc]:
    return [d for d in yaml.safe_load_all(text) if d]


def chart_values(*files: Path) -> Doc:
    """values.yaml with `files` merged over it, as helm merges them (maps merge, null drops)."""

    def merge(base: Doc, over: Doc) -> Doc:
        merged = dict(base)
        for key, value in over.items():
            if value is None:
                merged.pop(key, None)
            elif isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge(merged[key], value)
            else:
                merged[key] = value
        return merged

    values: Doc = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in files:
        values = merge(values, yaml.safe_load(path.read_text()))
    return values


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def name_of(component: str, release: str = RELEASE) -> str:
    # The release name holds the chart name, so the chart's prefix is the release name.
    prefix = release if "autodevops" in release else f"{release}-autodevops"
    return f"{prefix}-{component}"


def user_of(component: str, namespace: str = "autodevops", release: str = RELEASE) -> str:
    """The user name of a component's ServiceAccount, as TokenReview reports it."""
    return f"system:serviceaccount:{namespace}:{name_of(component, release)}"


def strip_labels(doc: Doc) -> Doc:
    doc = json.loads(json.dumps(doc))
    doc["metadata"].pop("labels", None)
    return doc


def pod_specs(docs: list[Doc]) -> dict[str, Doc]:
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] == "Deployment"
    }


def rendered_policy(docs: list[Doc], server: str, tmp_path: Path) -> Any:
    """A server's rendered policy, loaded as its server loads it (with its scope model)."""
    data = find(docs, "ConfigMap", f"{name_of(server)}-policy")["data"]["policy.yaml"]
    path = tmp_path / f"{server}.yaml"
    path.write_text(data)
    return load_policy(path, load_spec(load_policy(path).server).scope_model)


def derive_rbac(policy: Path, *extra: str) -> str:
    """What `autodevops policy rbac` prints for a policy file."""
    result = subprocess.run(
        [sys.executable, "-m", "autodevops.clients.cli", "policy", "rbac", str(policy), *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def network_policy(docs: list[Doc], component: str) -> Doc:
    spec: Doc = find(docs, "NetworkPolicy", name_of(component))["spec"]
    return spec


def selects(peer: Doc, component: str) -> bool:
    labels = peer.get("podSelector", {}).get("matchLabels", {})
    return (
        labels.get("app.kubernetes.io/component") == component and "namespaceSelector" not in peer
    )


def ports_of(rule: Doc) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]}


def server_tokens(pod: Doc) -> Doc:
    volumes = {v["name"]: v for v in pod["volumes"]}
    projected: Doc = volumes["server-tokens"]["projected"]
    return projected


def secret_keys(pod: Doc) -> set[str]:
    """The keys a client's pod mounts from Secrets (Scarlet: a secret volume; Jamie: projected)."""
    secrets = {v["name"]: v for v in pod["volumes"]}["secrets"]
    if "secret" in secrets:
        return {item["key"] for item in secrets["secret"]["items"]}
    return {
        item["key"]
        for source in secrets["projected"]["sources"]
        for item in source["secret"]["items"]
    }
