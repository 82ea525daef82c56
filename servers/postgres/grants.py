"""The least privilege a PostgreSQL server needs for its policy: `autodevops policy sql FILE`.

The server has one login role, so it needs the union of what the policy's roles may do: CONNECT
on their databases, USAGE and SELECT on their tables for the SQL tools, pg_monitor for the
health tools, pg_signal_backend for the signals, a read-only default, timeouts, a connection
limit, and nothing else. Globs are expanded against the catalog of the cluster the given
administrator DSN reaches, so the script is re-run after tables are added. It converges:
privileges the policy no longer needs are revoked first.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from autodevops.servers.core.policy import Policy, load_policy

from .scope import SYSTEM_SCHEMAS, PostgresScope

SQL_TOOLS = ("query", "explain")
HEALTH_TOOLS = (
    "health",
    "connections",
    "sessions",
    "blocking",
    "vacuum",
    "replication",
    "top_queries",
)
SIGNAL_TOOLS = ("cancel_query", "terminate_backend")


@dataclass
class Needs:
    """What the server's login role needs, from every role of a policy."""

    scopes: list[PostgresScope] = field(default_factory=list)
    sql_scopes: list[PostgresScope] = field(default_factory=list)
    monitor: bool = False
    signal: bool = False

    @classmethod
    def of(cls, policy: Policy, tools: list[str]) -> Needs:
        needs = cls()
        for role in policy.roles.values():
            allowed = [name for name in tools if role.allows(name)]
            if not allowed:
                continue
            scope = PostgresScope.model_validate(role.scope)
            needs.scopes.append(scope)
            if any(name in SQL_TOOLS for name in allowed):
                needs.sql_scopes.append(scope)
            needs.monitor |= any(name in HEALTH_TOOLS for name in allowed)
            needs.signal |= any(name in SIGNAL_TOOLS for name in allowed)
        return needs

    def database(self, name: str) -> bool:
        return any(scope.databases.allows(name) for scope in self.scopes)

    def table(self, database: str, schema: str, table: str) -> bool:
        return any(
            scope.databases.allows(database) and scope.table_allowed(schema, table)
            for scope in self.sql_scopes
        )

    def timeouts(self) -> tuple[float, float]:
        scopes = self.scopes or [PostgresScope()]
        return (
            max(scope.statement_timeout_seconds for scope in scopes),
            max(scope.lock_timeout_seconds for scope in scopes),
        )


def print_grants(policy_file: Path, role: str, connection_limit: int, admin_dsn: str) -> int:
    from .tools import TOOLS

    policy = load_policy(policy_file, PostgresScope)
    needs = Needs.of(policy, [t.name for t in TOOLS])
    try:
        script = render(needs, role, connection_limit, admin_dsn, str(policy_file))
    except psycopg.Error as exc:
        print(f"cannot read the catalog with the administrator DSN: {exc}", file=sys.stderr)
        return 1
    print(script, end="")
    return 0


def render(needs: Needs, role: str, connection_limit: int, admin_dsn: str, source: str) -> str:
    """The psql script: the role, its settings and memberships, then per database its grants."""
    statement_timeout, lock_timeout = needs.timeouts()
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        who = sql.Identifier(role).as_string(conn)
        literal = sql.Literal(role).as_string(conn)
        databases = [
            name
            for (name,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate"
                " ORDER BY 1"
            )
        ]
        lines = [
            f"-- The login role of the PostgreSQL MCP server for {source}: exactly what its",
            "-- policy needs. Apply as a superuser: psql -v ON_ERROR_STOP=1 -f THIS_FILE",
            "-- Re-run after tables are added. Then set its password (\\password in psql) or",
            "-- use certificate authentication. PUBLIC's defaults (CONNECT and TEMPORARY on",
            "-- databases, EXECUTE on functions) are PostgreSQL's and stay as they are.",
            "DO $$ BEGIN",
            f"  CREATE ROLE {who};",
            "EXCEPTION WHEN duplicate_object THEN NULL;",
            "END $$;",
            f"ALTER ROLE {who} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT"
            f" NOREPLICATION NOBYPASSRLS CONNECTION LIMIT {connection_limit};",
            f"ALTER ROLE {who} SET default_transaction_read_only = on;",
            f"ALTER ROLE {who} SET statement_timeout = '{round(statement_timeout * 1000)}ms';",
            f"ALTER ROLE {who} SET lock_timeout = '{round(lock_timeout * 1000)}ms';",
            f"ALTER ROLE {who} SET idle_in_transaction_session_timeout ="
            f" '{round(statement_timeout * 2000)}ms';",
            # Memberships granted by anyone else are not this script's to keep.
            f"{'GRANT' if needs.monitor else 'REVOKE'} pg_monitor"
            f" {'TO' if needs.monitor else 'FROM'} {who};",
            f"{'GRANT' if needs.signal else 'REVOKE'} pg_signal_backend"
            f" {'TO' if needs.signal else 'FROM'} {who};",
            f"-- {literal} may reach: "
            + (", ".join(d for d in databases if needs.database(d)) or "no database"),
        ]
        for database in databases:
            name = sql.Identifier(database).as_string(conn)
            lines.append(f"REVOKE ALL ON DATABASE {name} FROM {who};")
            if needs.database(database):
                lines.append(f"GRANT CONNECT ON DATABASE {name} TO {who};")
    for database in databases:
        lines += _database_grants(needs, who, database, make_conninfo(admin_dsn, dbname=database))
    return "\n".join(lines) + "\n"


def _database_grants(needs: Needs, who: str, database: str, dsn: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        relations = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
            "   AND n.nspname <> ALL (%s) AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"
            " ORDER BY 1, 2",
            [list(SYSTEM_SCHEMAS)],
        ).fetchall()
        schemas = [
            name
            for (name,) in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname <> ALL (%s)"
                " AND nspname !~ '^pg_(toast|temp_|toast_temp_)' ORDER BY 1",
                [list(SYSTEM_SCHEMAS)],
            )
        ]
        allowed = [(s, t) for s, t in relations if needs.table(database, s, t)]
        lines = [f"\\connect {sql.Identifier(database).as_string(conn)}"]
        for schema in schemas:
            quoted = sql.Identifier(schema).as_string(conn)
            lines.append(f"REVOKE ALL ON ALL TABLES IN SCHEMA {quoted} FROM {who};")
            lines.append(f"REVOKE ALL ON SCHEMA {quoted} FROM {who};")
        for schema in sorted({s for s, _ in allowed}):
            lines.append(
                f"GRANT USAGE ON SCHEMA {sql.Identifier(schema).as_string(conn)} TO {who};"
            )
        for schema, table in allowed:
            name = sql.Identifier(schema, table).as_string(conn)
            lines.append(f"GRANT SELECT ON {name} TO {who};")
    return lines
