"""What the gate can tell from a statement before the database sees it, with PostgreSQL's own
parser (libpg_query, through pglast): one statement, a plain query, no locks, no writes, and the
functions it calls by name.

This is the first of two locks. The second is the database: the server's login role (see
`autodevops policy sql`) has only SELECT on the allowed tables, and every statement runs in a
read-only transaction with a statement and a lock timeout. Relations are never read from the
text: the client asks PostgreSQL for the plan and checks the relations it resolved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast.parser import ParseError, parse_sql_json

from autodevops.servers.core.errors import GateError, InvalidArgument

MAX_SQL_CHARS = 100_000
# Volatile functions that read nothing and change nothing; every other volatile function is
# refused (nextval, set_config, pg_advisory_lock, pg_terminate_backend, pg_read_file, ...).
HARMLESS_VOLATILE = frozenset(
    {"random", "random_normal", "clock_timestamp", "timeofday", "gen_random_uuid", "pg_sleep"}
)
_WRITES = {
    "InsertStmt": "INSERT",
    "UpdateStmt": "UPDATE",
    "DeleteStmt": "DELETE",
    "MergeStmt": "MERGE",
}


class StatementRefused(GateError):
    """The statement is not one read-only query; the message says what to send instead."""

    reason = "statement_refused"


@dataclass(frozen=True)
class Function:
    schema: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class Statement:
    sql: str
    functions: frozenset[Function]


def check_statement(sql: str, field: str = "sql") -> Statement:
    """One plain query (SELECT, VALUES, TABLE, WITH ... SELECT), or a refusal saying why."""
    if len(sql) > MAX_SQL_CHARS:
        raise InvalidArgument(field, f"longer than {MAX_SQL_CHARS} characters")
    try:
        tree = json.loads(parse_sql_json(sql))
    except ParseError as exc:
        raise InvalidArgument(field, f"not valid SQL: {exc.args[0]}") from exc
    statements = tree.get("stmts", [])
    if len(statements) != 1:
        raise StatementRefused(
            f"'{field}' holds {len(statements)} statements; send exactly one query"
        )
    node = statements[0]["stmt"]
    kind = next(iter(node))
    if kind != "SelectStmt":
        raise StatementRefused(
            f"'{field}': {_statement_name(kind)} statements do not run here; only read-only "
            "queries (SELECT, VALUES, TABLE, WITH ... SELECT) do"
        )
    functions = set()
    for key, value in _walk(node):
        if key in _WRITES:
            raise StatementRefused(
                f"'{field}' holds a data-modifying {_WRITES[key]} (a writable WITH); "
                "only reads run here"
            )
        if key == "lockingClause" and value:
            raise StatementRefused(
                f"'{field}' locks rows (FOR UPDATE/SHARE); drop the locking clause"
            )
        if key == "intoClause" and value:
            raise StatementRefused(f"'{field}' creates a table (SELECT INTO); drop the INTO")
        if key == "FuncCall":
            names = [part["String"]["sval"] for part in value["funcname"]]
            functions.add(Function(names[-2] if len(names) > 1 else None, names[-1]))
    return Statement(sql, frozenset(functions))


_NAMES = {
    "VariableSetStmt": "SET",
    "VariableShowStmt": "SHOW",
    "TransactionStmt": "transaction control (BEGIN, COMMIT, ...)",
}


def _statement_name(kind: str) -> str:
    """`CreateForeignServerStmt` reads `CREATE FOREIGN SERVER`."""
    return (
        _NAMES.get(kind) or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", kind.removesuffix("Stmt")).upper()
    )


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of the parse tree, depth first, without recursion."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                yield key, value
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
