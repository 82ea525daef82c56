"""The Kubernetes MCP server: tools, API client and default policy put together."""

from __future__ import annotations

import argparse
import os

from autodevops.servers.core.spec import ServerSpec

from .client import KubeBackend
from .scope import KubernetesScope
from .tools import TOOLS


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="kubeconfig file (env KUBECONFIG; in a pod, the ServiceAccount is used)",
    )
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def _connect(options: argparse.Namespace) -> KubeBackend:
    return KubeBackend(options.kubeconfig, options.context)


SPEC = ServerSpec(
    name="kubernetes",
    title="autodevops-kubernetes",
    instructions=(
        "Kubernetes through the server's own identity, limited by the caller's role: list, get "
        "and describe any kind, events, logs, rollouts; writes only where the policy allows, "
        "each with dry_run."
    ),
    tools=TOOLS,
    scope_model=KubernetesScope,
    default_policy="kubernetes.yaml",
    add_arguments=_add_arguments,
    connect=_connect,
)
