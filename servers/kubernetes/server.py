"""The Kubernetes MCP server: tools, API client, default policy, and `policy rbac`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodevops.servers.core.spec import Command, ServerSpec, ToolSpec

from .scope import KubernetesScope

if TYPE_CHECKING:
    from .client import KubeBackend


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


def _rbac_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path)
    parser.add_argument("--name", default="autodevops-kubernetes", help="Role/ClusterRole name")
    parser.add_argument(
        "--service-account", metavar="NAMESPACE/NAME", help="also bind to this ServiceAccount"
    )
    parser.add_argument(
        "--kubeconfig", help="discover the kinds this cluster serves (custom resources too)"
    )


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
    commands=[
        Command(
            "policy",
            "rbac",
            "print the least Kubernetes RBAC a kubernetes-server policy needs",
            _rbac_arguments,
            _rbac,
        )
    ],
)
