"""A role's reach in PostgreSQL: which databases, schemas and tables, and the timeouts and
signals its statements run under.

Names are matched as PostgreSQL resolved them (from the catalog, or from the plan of the
statement), never by reading the SQL text: databases and schemas by name, tables as
`schema.table`. Each is a list of globs with a deny list that wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field

from autodevops.servers.core.errors import OutOfScope

# Catalog schemas every session reads to plan and describe anything; the database itself
# keeps their sensitive tables (pg_authid, pg_statistic, ...) to superusers.
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")


class Names(BaseModel):
    """Globs of names allowed, and globs refused even when allowed."""

    model_config = ConfigDict(extra="forbid")

    allow: list[str] = Field(default_factory=lambda: ["*"])
    deny: list[str] = Field(default_factory=list)

    def allows(self, name: str) -> bool:
        if any(fnmatchcase(name, pattern) for pattern in self.deny):
            return False
        return any(fnmatchcase(name, pattern) for pattern in self.allow)


class PostgresScope(BaseModel):
    """What one role may read, and how long its statements may run or wait for a lock."""

    model_config = ConfigDict(extra="forbid")

    databases: Names = Field(
        default_factory=lambda: Names(deny=["template0", "template1"]),
        description="database names",
    )
    schemas: Names = Field(default_factory=Names, description="schema names")
    tables: Names = Field(default_factory=Names, description="`schema.table` names")
    statement_timeout_seconds: float = Field(
        default=10.0, gt=0, le=600, description="SET LOCAL statement_timeout of every statement"
    )
    lock_timeout_seconds: float = Field(
        default=2.0, gt=0, le=600, description="SET LOCAL lock_timeout of every statement"
    )
    explain_analyze: bool = Field(
        default=False, description="explain may run the statement (EXPLAIN ANALYZE)"
    )
    signal_roles: list[str] = Field(
        default_factory=list,
        description="roles whose sessions cancel_query and terminate_backend may signal",
    )

    def check_database(self, name: str) -> None:
        if not self.databases.allows(name):
            raise OutOfScope(f"database '{name}' is outside your scope")

    def table_allowed(self, schema: str, table: str) -> bool:
        if schema in SYSTEM_SCHEMAS:
            return self.tables.allows(f"{schema}.{table}")
        return self.schemas.allows(schema) and self.tables.allows(f"{schema}.{table}")

    def check_relations(self, relations: Iterable[tuple[str, str]]) -> None:
        """Every relation the statement reads must be allowed; the message names them all."""
        outside = sorted({f"{s}.{t}" for s, t in relations if not self.table_allowed(s, t)})
        if outside:
            raise OutOfScope(
                f"the statement reads {', '.join(outside)}, outside your scope; "
                "query only the tables list_tables shows you"
            )

    def may_signal(self, role: str) -> bool:
        return any(fnmatchcase(role, pattern) for pattern in self.signal_roles)
