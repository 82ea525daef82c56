"""The Argo CD MCP server: one tool set over two modes, the Argo CD API server (`api`) or the
Application resources through the Kubernetes API (`core`)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from autodevops.servers.core.spec import Command, ServerSpec, ToolSpec

from .scope import ArgoScope

if TYPE_CHECKING:
    from autodevops.servers.core.policy import Policy

    from .client import ArgoSource


def _tools() -> Sequence[ToolSpec[Any]]:
    from .tools import TOOLS

    return TOOLS


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode",
        choices=["api", "core"],
        default=os.environ.get("ARGOCD_MODE", "api"),
        help="api: the Argo CD API server; core: Application resources through the "
        "Kubernetes API (env ARGOCD_MODE; default %(default)s)",
    )
    parser.add_argument(
        "--argocd-url",
        default=os.environ.get("ARGOCD_URL", "https://argocd-server.argocd.svc"),
        help="API mode: argocd-server base URL (env ARGOCD_URL; default %(default)s)",
    )
    parser.add_argument(
        "--argocd-token-file",
        default=os.environ.get("ARGOCD_TOKEN_FILE"),
        help="API mode: file holding the server's own Argo CD token (env ARGOCD_TOKEN_FILE)",
    )
    parser.add_argument(
        "--argocd-ca-file",
        default=os.environ.get("ARGOCD_CA_FILE"),
        help="API mode: CA bundle to verify argocd-server's certificate (TLS is always verified)",
    )
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="core mode: kubeconfig file (env KUBECONFIG; in a pod, the ServiceAccount is used)",
    )
    parser.add_argument("--context", help="core mode: kubeconfig context")


def _connect(options: argparse.Namespace) -> ArgoSource:
    if options.mode == "core":
        from .core import ArgoCore

        return ArgoCore(options.kubeconfig, options.context)
    from .api import ArgoApi

    return ArgoApi(options.argocd_url, options.argocd_token_file, options.argocd_ca_file)


def _kubernetes_rbac(policy: Policy, name: str, service_account: str | None) -> str:
    from .rbac import core_manifests

    return core_manifests(policy, name, service_account)


def _csv_arguments(parser: argparse.ArgumentParser) -> None:
    from .rbac import csv_arguments

    csv_arguments(parser)


def _csv(options: argparse.Namespace) -> int:
    from .rbac import print_csv

    return print_csv(options)


SPEC = ServerSpec(
    name="argocd",
    title="autodevops-argocd",
    instructions=(
        "Argo CD applications in the caller's projects: compact lists, state, diffs, history, "
        "unhealthy resources and events; sync, rollback, refresh and terminate only where the "
        "policy allows, each with dry_run."
    ),
    load_tools=_tools,
    scope_model=ArgoScope,
    default_policy="argocd.yaml",
    add_arguments=_add_arguments,
    connect=_connect,
    commands=[
        Command(
            "policy",
            "argocd-rbac",
            "print the Argo CD RBAC (policy.csv lines) an argocd-server policy needs in API mode",
            _csv_arguments,
            _csv,
        )
    ],
    kubernetes_rbac=_kubernetes_rbac,
)
