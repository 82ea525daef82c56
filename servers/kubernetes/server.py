"""The Kubernetes MCP server: tools, API client, default policy, and `policy rbac`."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodevops.servers.core.spec import Command, ServerSpec, ToolSpec

from .scope import KubernetesScope

if TYPE_CHECKING:
    from autodevops.servers.core.policy import Policy

    from .client import KubeBackend
    from .resource_types import ResourceType


def _tools() -> Sequence[ToolSpec[Any]]:
    from .tools import TOOLS

    return TOOLS


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="kubeconfig file (env KUBECONFIG; in a pod, the ServiceAccount is used)",
    )
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def _connect(options: argparse.Namespace) -> KubeBackend:
    from .client import KubeBackend

    return KubeBackend(options.kubeconfig, options.context)


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        help="kubernetes policies: resolve kind names against this cluster's discovery",
    )
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def _check_policy(policy: Policy, options: argparse.Namespace) -> list[str]:
    """Every `kinds` entry must name a kind the cluster serves: `kinds.deny: [secretz]` with
    a typo would otherwise deny nothing. `policy check` asks the cluster it is given (none:
    nothing is checked); a starting server asks only about names that are no built-in kind,
    so a policy of built-in kinds starts without a round of discovery."""
    from .builtin_kinds import BUILTIN
    from .client import KubeBackend, in_cluster
    from .scope import unmatched_kind_patterns

    serving = hasattr(options, "transport")  # `serve` always has a cluster; `policy check`
    if not serving and not options.kubeconfig and not in_cluster():  # only when given one
        return []
    scopes = {
        name: KubernetesScope.model_validate(role.scope) for name, role in policy.roles.items()
    }
    if serving and not any(unmatched_kind_patterns(scope, BUILTIN) for scope in scopes.values()):
        return []
    backend = KubeBackend(options.kubeconfig, options.context, timeout_seconds=5.0)
    types = asyncio.run(_discover(backend))
    return [
        f"roles.{name}.scope.kinds: '{pattern}' names no kind this cluster serves "
        "(by kind, plural or short name, optionally group/)"
        for name, scope in scopes.items()
        for pattern in unmatched_kind_patterns(scope, types)
    ]


async def _discover(backend: KubeBackend) -> list[ResourceType]:
    try:
        return await backend.resource_types()
    finally:
        await backend.aclose()


def _rbac_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path)
    parser.add_argument("--name", default="autodevops-kubernetes", help="Role/ClusterRole name")
    parser.add_argument(
        "--service-account", metavar="NAMESPACE/NAME", help="also bind to this ServiceAccount"
    )
    parser.add_argument(
        "--kubeconfig", help="discover the kinds this cluster serves (custom resources too)"
    )


def _kubernetes_rbac(policy: Policy, name: str, service_account: str | None) -> str:
    from .rbac import manifests

    return manifests(policy, name, service_account)


def _rbac(options: argparse.Namespace) -> int:
    from .rbac import print_rbac

    return print_rbac(options.file, options.name, options.service_account, options.kubeconfig)


SPEC = ServerSpec(
    name="kubernetes",
    title="autodevops-kubernetes",
    instructions=(
        "Kubernetes through the server's own identity, limited by the caller's role: list, get "
        "and describe any kind, events, logs, rollouts; writes only where the policy allows, "
        "each with dry_run."
    ),
    load_tools=_tools,
    scope_model=KubernetesScope,
    default_policy="kubernetes.yaml",
    add_arguments=_add_arguments,
    connect=_connect,
    check_policy=_check_policy,
    check_arguments=_check_arguments,
    commands=[
        Command(
            "policy",
            "rbac",
            "print the least Kubernetes RBAC a policy needs (servers calling the Kubernetes API)",
            _rbac_arguments,
            _rbac,
        )
    ],
    kubernetes_rbac=_kubernetes_rbac,
)
