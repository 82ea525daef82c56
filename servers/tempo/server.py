"""The Tempo MCP server: tools, backend client and default policy put together."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodevops.servers.core.spec import ServerSpec, ToolSpec

from .scope import TempoScope

if TYPE_CHECKING:
    from .client import TempoClient


def _tools() -> Sequence[ToolSpec[Any]]:
    from .tools import TOOLS

    return TOOLS


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tempo-url",
        default=os.environ.get("TEMPO_URL", "http://127.0.0.1:3200"),
        help="Tempo query frontend base URL (env TEMPO_URL; default %(default)s)",
    )
    parser.add_argument(
        "--tempo-tenant",
        default=os.environ.get("TEMPO_TENANT"),
        help="X-Scope-OrgID for roles whose scope names no tenant (env TEMPO_TENANT)",
    )
    parser.add_argument(
        "--tempo-token-file",
        type=Path,
        default=os.environ.get("TEMPO_TOKEN_FILE"),
        help="file holding the server's own bearer token for Tempo, re-read when it changes",
    )


def _connect(options: argparse.Namespace) -> TempoClient:
    from .client import TempoClient

    return TempoClient(
        options.tempo_url, tenant=options.tempo_tenant, token_file=options.tempo_token_file
    )


SPEC = ServerSpec(
    name="tempo",
    title="autodevops-tempo",
    instructions=(
        "Read-only access to traces in Tempo: search with TraceQL, then read one trace as a "
        "summary (critical path, errors, slowest spans). A role may be limited to some "
        "namespaces: it sees only their spans, and other spans by service only."
    ),
    load_tools=_tools,
    scope_model=TempoScope,
    default_policy="tempo.yaml",
    add_arguments=_add_arguments,
    connect=_connect,
)
