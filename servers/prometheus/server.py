"""The Prometheus MCP server: tools, backend client and default policy put together."""

from __future__ import annotations

import argparse
import os

from autodevops.servers.core.spec import ServerSpec

from .client import PrometheusClient
from .scope import PrometheusScope
from .tools import TOOLS


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prometheus-url",
        default=os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090"),
        help="Prometheus base URL (env PROMETHEUS_URL; default %(default)s)",
    )


def _connect(options: argparse.Namespace) -> PrometheusClient:
    return PrometheusClient(options.prometheus_url)


SPEC = ServerSpec(
    name="prometheus",
    title="autodevops-prometheus",
    instructions=(
        "Read-only access to Prometheus metrics, alerts, rules and targets. Results are "
        "compact tables; a role may be limited to some label values (e.g. namespaces)."
    ),
    tools=TOOLS,
    scope_model=PrometheusScope,
    default_policy="prometheus.yaml",
    add_arguments=_add_arguments,
    connect=_connect,
)
