"""The PostgreSQL MCP server: tools, connection, default policy, and `policy sql`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodevops.servers.core.spec import Command, ServerSpec, ToolSpec

from .scope import PostgresScope

if TYPE_CHECKING:
    from .client import PostgresBackend


def _tools() -> Sequence[ToolSpec[Any]]:
    from .tools import TOOLS

    return TOOLS


def _dsn_arguments(parser: argparse.ArgumentParser, who: str) -> None:
    parser.add_argument(
        "--dsn-file",
        type=Path,
        help=f"file holding the libpq DSN or URL of {who} (default: $DATABASE_URL)",
    )
    parser.add_argument("--sslmode", help="libpq sslmode: disable, prefer, require, verify-full…")
    parser.add_argument("--sslrootcert", help="CA bundle to verify the server's certificate")
    parser.add_argument("--sslcert", help="client certificate, for certificate authentication")
    parser.add_argument("--sslkey", help="the client certificate's key")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    _dsn_arguments(parser, "the server's own login role")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=4,
        help="connections per database at most (default %(default)s)",
    )


def dsn(options: argparse.Namespace) -> str:
    """The DSN from --dsn-file or $DATABASE_URL, with the TLS options added; never printed."""
    from psycopg.conninfo import make_conninfo

    if options.dsn_file:
        try:
            text = options.dsn_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SystemExit(f"--dsn-file {options.dsn_file}: {exc.strerror}") from exc
    else:
        text = os.environ.get("DATABASE_URL", "")
    if not text:
        raise SystemExit("no database: pass --dsn-file FILE or set DATABASE_URL")
    tls = {
        key: getattr(options, key)
        for key in ("sslmode", "sslrootcert", "sslcert", "sslkey")
        if getattr(options, key)
    }
    return make_conninfo(text, **tls)


def _connect(options: argparse.Namespace) -> PostgresBackend:
    from .client import PostgresBackend

    if options.pool_size < 1:
        raise SystemExit("--pool-size must be at least 1")
    return PostgresBackend(dsn(options), pool_size=options.pool_size)


def _sql_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a postgres-server policy")
    parser.add_argument(
        "--role", default="autodevops_mcp", help="the login role to create (%(default)s)"
    )
    parser.add_argument(
        "--connection-limit",
        type=int,
        default=10,
        help="CONNECTION LIMIT of the role: pool size x databases x replicas (%(default)s)",
    )
    _dsn_arguments(parser, "an administrator, to read which databases and tables exist")


def _sql(options: argparse.Namespace) -> int:
    from autodevops.common.config import ConfigError

    from .grants import print_grants

    try:
        return print_grants(options.file, options.role, options.connection_limit, dsn(options))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1


SPEC = ServerSpec(
    name="postgres",
    title="autodevops-postgres",
    instructions=(
        "Read-only PostgreSQL: databases, tables, one-statement SQL queries and plans, and "
        "health (connections, long queries, lock chains, vacuum, replication). Statements run "
        "in read-only transactions under a timeout, as a role that can read only what the "
        "policy allows."
    ),
    load_tools=_tools,
    scope_model=PostgresScope,
    default_policy="postgres.yaml",
    add_arguments=_add_arguments,
    connect=_connect,
    commands=[
        Command(
            "policy",
            "sql",
            "print the SQL creating the least-privilege login role a postgres-server policy needs",
            _sql_arguments,
            _sql,
        )
    ],
)
