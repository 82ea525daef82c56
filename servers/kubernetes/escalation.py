"""Writes that are in scope but would hand a caller more than its scope: refused by default.

The server writes with its own ServiceAccount, so the API server's own escalation checks
(`bind`, `escalate`) see the server, not the caller. A RoleBinding to `cluster-admin`, or a
Pod that mounts a Secret the caller may not read, would let a caller act or read beyond its
role through the objects it creates. Each is allowed only where a policy says so:
`bindable_roles` names the roles a binding may refer to; `secret_mounts: true` lets pods use
Secrets the role cannot read.
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

from autodevops.servers.core.errors import OutOfScope

from .builtin_kinds import BUILTIN
from .resource_types import ResourceType
from .scope import KubernetesScope

RBAC_GROUP = "rbac.authorization.k8s.io"
_SECRET = next(t for t in BUILTIN if t.group == "" and t.kind == "Secret")
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def check_escalation(
    scope: KubernetesScope, resource: ResourceType, namespace: str | None, document: Any
) -> None:
    """Refuse, naming the field and the policy setting, a write that would escalate."""
    if resource.group == RBAC_GROUP and resource.kind in ("RoleBinding", "ClusterRoleBinding"):
        _check_binding(scope, resource, document)
    if scope.secret_mounts or _may_read_secret(scope, namespace):
        return
    for where, secret in secrets_used(document):
        raise OutOfScope(
            f"{resource.kind}: {where} uses Secret '{secret}', which your role may not read; "
            "the pod would hand its values to whatever the pod runs. A policy allows this "
            "with `secret_mounts: true` in the role's scope"
        )


def _check_binding(scope: KubernetesScope, resource: ResourceType, document: Any) -> None:
    ref = document.get("roleRef") if isinstance(document, dict) else None
    name = ref.get("name") if isinstance(ref, dict) else None
    if not isinstance(name, str):
        raise OutOfScope(f"{resource.kind}: roleRef.name must name a role")
    if not any(fnmatchcase(name, pattern) for pattern in scope.bindable_roles):
        allowed = ", ".join(scope.bindable_roles) or "none"
        raise OutOfScope(
            f"{resource.kind}: roleRef.name '{name}' would hand that role's permissions to its "
            f"subjects; your role may bind only: {allowed} (`bindable_roles` in its scope)"
        )


def _may_read_secret(scope: KubernetesScope, namespace: str | None) -> bool:
    try:
        scope.check(_SECRET, "get", namespace)
    except OutOfScope:
        return False
    return scope.secret_values


def secrets_used(document: Any) -> Iterator[tuple[str, str]]:
    """(field, Secret name) for every Secret any pod spec in the document uses, wherever the
    pod spec sits (a Pod, a workload's template, a CronJob's, a custom resource's)."""
    for path, spec in _pod_specs(document, ""):
        for index, volume in enumerate(_items(spec.get("volumes"))):
            secret = _get(volume, "secret", "secretName")
            if secret:
                yield f"{path}volumes[{index}].secret", secret
            for n, source in enumerate(_items(_get(volume, "projected", "sources"))):
                secret = _get(source, "secret", "name")
                if secret:
                    yield f"{path}volumes[{index}].projected.sources[{n}].secret", secret
        for field in _CONTAINER_LISTS:
            for index, container in enumerate(_items(spec.get(field))):
                where = f"{path}{field}[{index}]"
                for n, env in enumerate(_items(container.get("env"))):
                    secret = _get(env, "valueFrom", "secretKeyRef", "name")
                    if secret:
                        yield f"{where}.env[{n}].valueFrom.secretKeyRef", secret
                for n, source in enumerate(_items(container.get("envFrom"))):
                    secret = _get(source, "secretRef", "name")
                    if secret:
                        yield f"{where}.envFrom[{n}].secretRef", secret


def _pod_specs(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            yield path, node
        for key, value in node.items():
            yield from _pod_specs(value, f"{path}{key}.")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _pod_specs(value, f"{path.rstrip('.')}[{index}].")


def _items(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node
