"""The Prometheus MCP server: tools, backend client and default policy put together."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from autodevops.servers.core.spec import ServerSpec, ToolSpec

from .scope import PrometheusScope

if TYPE_CHECKING:
    from .client import PrometheusClient


def _tools() -> Sequence[ToolSpec[Any]]:
    from .tools import TOOLS

    return TOOLS


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prometheus-url",
        default=os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090"),
        help="Prometheus base URL (env PROMETHEUS_URL; default %(default)s)",
    )


def _connect(options: argparse.Namespace) -> PrometheusClient:
    from .client import PrometheusClient

    return PrometheusClient(options.prometheus_url)


SPEC = ServerSpec(
    name="prometheus",
    title="autodevops-prometheus",
    instructions=(
        "Read-only access to Prometheus metrics, alerts, rules and targets. Results are "
        "compact tables; a role may be limited to some label values (e.g. namespaces)."
    ),
    load_tools=_tools,
    scope_model=PrometheusScope,
    default_policy="prometheus.yaml",
    add_arguments=_add_arguments,
    connect=_connect,
)
