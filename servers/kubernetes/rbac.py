"""The least RBAC a Kubernetes server needs for its policy: `autodevops policy rbac FILE`.

The server has one ServiceAccount, so it needs the union of what its roles may do. Each tool
names the permissions it uses; the role's scope narrows kinds, verbs and namespaces. Exact
namespaces become Roles; `*` or globs need a ClusterRole (the gate still narrows them).
"""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from autodevops.common.config import ConfigError
from autodevops.servers.core.policy import Policy, load_policy

from .builtin_kinds import BUILTIN
from .resource_types import ResourceType
from .scope import KubernetesScope

ANY = "<allowed kinds>"

# Per tool: (kind or ANY, subresource, verb). Discovery needs nothing: every authenticated
# identity may read it (system:discovery).
NEEDS: dict[str, list[tuple[str, str, str]]] = {
    "api_resources": [],
    "list_resources": [(ANY, "", "list")],
    "get_resource": [(ANY, "", "get")],
    "describe": [(ANY, "", "get"), ("core/Pod", "", "list"), ("core/Event", "", "list")],
    "events": [("core/Event", "", "list")],
    "namespaces_overview": [("core/Namespace", "", "list"), ("core/Pod", "", "list")],
    "nodes_overview": [("core/Node", "", "list")],
    "rollout_status": [
        ("apps/Deployment", "", "get"),
        ("apps/StatefulSet", "", "get"),
        ("apps/DaemonSet", "", "get"),
        ("apps/ReplicaSet", "", "list"),
    ],
    "pod_logs": [("core/Pod", "log", "get")],
    "scale": [
        ("apps/Deployment", "scale", "patch"),
        ("apps/StatefulSet", "scale", "patch"),
        ("apps/ReplicaSet", "scale", "patch"),
    ],
    "rollout_restart": [
        ("apps/Deployment", "", "patch"),
        ("apps/StatefulSet", "", "patch"),
        ("apps/DaemonSet", "", "patch"),
    ],
    "rollback": [
        ("apps/Deployment", "", "get"),
        ("apps/Deployment", "", "patch"),
        ("apps/ReplicaSet", "", "list"),
    ],
    "cordon": [("core/Node", "", "patch")],
    "delete_resource": [(ANY, "", "delete")],
    "apply_manifest": [(ANY, "", "create"), (ANY, "", "patch")],
}


@dataclass(frozen=True)
class Grant:
    namespace: str | None
    group: str
    resource: str
    verb: str


def grants(policy: Policy, types: Iterable[ResourceType] = BUILTIN) -> set[Grant]:
    known = list(types)
    found: set[Grant] = set()
    for role in policy.roles.values():
        scope = KubernetesScope.model_validate(role.scope)
        for tool_name, needs in NEEDS.items():
            if not role.allows(tool_name):
                continue
            for kind, subresource, verb in needs:
                if verb not in scope.verbs:
                    continue
                candidates = [t for t in known if kind in (ANY, _qualified(t))]
                for t in candidates:
                    if not scope.kind_allowed(t):
                        continue
                    resource = f"{t.plural}/{subresource}" if subresource else t.plural
                    for namespace in _namespaces(scope, t):
                        found.add(Grant(namespace, t.group, resource, verb))
    return found


def _qualified(t: ResourceType) -> str:
    return f"{t.group or 'core'}/{t.kind}"


def _namespaces(scope: KubernetesScope, t: ResourceType) -> list[str | None]:
    if not t.namespaced:
        return [None] if scope.cluster_scoped else []
    exact = scope.namespaces.exact_allow()
    return list(exact) if exact is not None else [None]


def manifests(
    policy: Policy,
    name: str,
    service_account: str | None = None,
    types: Iterable[ResourceType] = BUILTIN,
) -> str:
    """Role/ClusterRole YAML (and bindings when a ServiceAccount `ns/name` is given)."""
    by_namespace: dict[str | None, dict[tuple[str, str], set[str]]] = defaultdict(
        lambda: defaultdict(set)
    )
    for grant in grants(policy, types):
        by_namespace[grant.namespace][(grant.group, grant.resource)].add(grant.verb)
    return rbac_yaml(policy.server, by_namespace, name, service_account)


def rbac_yaml(
    server: str,
    by_namespace: dict[str | None, dict[tuple[str, str], set[str]]],
    name: str,
    service_account: str | None,
    mode: str = "",
) -> str:
    """Roles for the namespaced permissions, a ClusterRole for those without a namespace, and
    their bindings to `service_account` (`ns/name`) when given."""
    documents: list[dict[str, object]] = []
    for namespace in sorted(by_namespace, key=lambda n: n or ""):
        metadata: dict[str, str] = {"name": name}
        if namespace:
            metadata["namespace"] = namespace
        kind = "Role" if namespace else "ClusterRole"
        documents.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": kind,
                "metadata": metadata,
                "rules": _rules(by_namespace[namespace]),
            }
        )
        if service_account:
            sa_namespace, sa_name = service_account.split("/", 1)
            documents.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": f"{kind}Binding",
                    "metadata": dict(metadata),
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": kind,
                        "name": name,
                    },
                    "subjects": [
                        {"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}
                    ],
                }
            )
    header = (
        f"# Least privilege for the {server} server{mode} under this policy: the union of "
        "what its roles may do.\n"
    )
    return header + yaml.safe_dump_all(documents, sort_keys=False)


def _rules(permissions: dict[tuple[str, str], set[str]]) -> list[dict[str, list[str]]]:
    """One rule per (group, verbs), resources sorted, so the output is stable and short."""
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for (group, resource), verbs in permissions.items():
        grouped[(group, tuple(sorted(verbs)))].append(resource)
    return [
        {"apiGroups": [group], "resources": sorted(resources), "verbs": list(verbs)}
        for (group, verbs), resources in sorted(grouped.items())
    ]


def print_rbac(path: Path, name: str, service_account: str | None, kubeconfig: str | None) -> int:
    """`autodevops policy rbac`: the manifests on stdout, or what is wrong on stderr (exit 1).

    Any server whose backend is the Kubernetes API (its spec's `kubernetes_rbac`: this one,
    Argo CD in core mode) gets its own derivation; `--kubeconfig` discovers kinds for this one."""
    from autodevops.servers.registry import load_spec

    try:
        spec = load_spec(load_policy(path).server)
        policy = load_policy(path, spec.scope_model)
    except KeyError as exc:
        print(f"{path}: server: {exc.args[0]}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if service_account and "/" not in service_account:
        print("--service-account must be NAMESPACE/NAME", file=sys.stderr)
        return 1
    if spec.kubernetes_rbac is None:
        print(
            f"{path}: server: the {policy.server} server does not use the Kubernetes API, "
            "so it needs no RBAC",
            file=sys.stderr,
        )
        return 1
    if policy.server == "kubernetes" and kubeconfig:
        from .client import KubeBackend

        types = asyncio.run(KubeBackend(kubeconfig).resource_types())
        print(manifests(policy, name, service_account, types), end="")
        return 0
    print(spec.kubernetes_rbac(policy, name, service_account), end="")
    return 0
