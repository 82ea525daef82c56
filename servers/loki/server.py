"""The Loki MCP server: tools, backend client and default policy put together."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodevops.servers.core.spec import ServerSpec, ToolSpec

from .scope import LokiScope

if TYPE_CHECKING:
    from .client import LokiClient


def _tools() -> Sequence[ToolSpec[Any]]:
    from .tools import TOOLS

    return TOOLS


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loki-url",
        default=os.environ.get("LOKI_URL", "http://127.0.0.1:3100"),
        help="Loki base URL (env LOKI_URL; default %(default)s)",
    )
    parser.add_argument(
        "--loki-tenant",
        default=os.environ.get("LOKI_TENANT"),
        help="X-Scope-OrgID for roles whose scope names no tenant (env LOKI_TENANT)",
    )
    parser.add_argument(
        "--loki-token-file",
        type=Path,
        help="file holding a bearer token for Loki (re-read per call)",
    )
    parser.add_argument("--loki-username", help="basic-auth user name for Loki")
    parser.add_argument(
        "--loki-password-file",
        type=Path,
        help="file holding the basic-auth password (re-read per call)",
    )


def _connect(options: argparse.Namespace) -> LokiClient:
    from .client import LokiClient

    return LokiClient(
        options.loki_url,
        tenant=options.loki_tenant,
        username=options.loki_username,
        password_file=options.loki_password_file,
        token_file=options.loki_token_file,
    )


SPEC = ServerSpec(
    name="loki",
    title="autodevops-loki",
    instructions=(
        "Read-only access to logs in Loki with LogQL. Start cheap: stats, volume or patterns "
        "for a selector, then query_metrics for counts and rates, then query_logs with line "
        "filters for the lines themselves. A role may be limited to some label values (e.g. "
        "namespaces) and a tenant; every query is rewritten to stay inside them."
    ),
    load_tools=_tools,
    scope_model=LokiScope,
    default_policy="loki.yaml",
    add_arguments=_add_arguments,
    connect=_connect,
)
