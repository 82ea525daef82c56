"""What the gate tells from the statement alone, with PostgreSQL's own parser."""

from __future__ import annotations

import pytest

from autodevops.servers.core.errors import InvalidArgument
from autodevops.servers.postgres.statement import (
    Function,
    StatementRefused,
    check_statement,
)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "select * from orders where id = $1;",
        "VALUES (1), (2)",
        "TABLE orders",
        "WITH t AS (SELECT 1) SELECT * FROM t",
        "SELECT 1 UNION ALL SELECT 2 -- a comment; DROP TABLE x",
        "SELECT ';' AS semicolon, $$DROP TABLE x$$ AS text",
    ],
)
def test_one_plain_query_passes(sql: str) -> None:
    assert check_statement(sql).sql == sql


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("SELECT 1; SELECT 2", "holds 2 statements"),
        ("", "holds 0 statements"),
        ("COMMIT; DROP TABLE t", "holds 2 statements"),
        ("DROP TABLE t", "DROP statements do not run here"),
        ("ALTER SYSTEM SET fsync = off", "ALTER SYSTEM statements"),
        ("EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN statements"),
        ("BEGIN", "transaction control"),
        ("SELECT * FROM (SELECT * FROM t FOR SHARE) s", "locks rows"),
        ("SELECT 1 FROM t WHERE EXISTS (WITH x AS (UPDATE t SET a = 1 RETURNING 1) "
         "SELECT * FROM x)", "data-modifying UPDATE"),
        ("WITH x AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT * FROM x",
         "data-modifying INSERT"),
        ("WITH x AS (MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE) SELECT 1",
         "data-modifying MERGE"),
    ],
)  # fmt: skip
def test_everything_else_is_refused_saying_why(sql: str, says: str) -> None:
    with pytest.raises(StatementRefused, match=says):
        check_statement(sql)


def test_syntax_errors_name_the_field() -> None:
    with pytest.raises(InvalidArgument, match="'sql': not valid SQL: syntax error at or near"):
        check_statement("SELEC 1")


def test_functions_are_collected_with_their_schema_wherever_they_are_called() -> None:
    statement = check_statement(
        "SELECT pg_catalog.PG_READ_FILE('x'), count(*) FROM generate_series(1, 2) g "
        "WHERE g IN (SELECT nextval('s')) ORDER BY lower('A')"
    )
    assert statement.functions == {
        Function("pg_catalog", "pg_read_file"),
        Function(None, "count"),
        Function(None, "generate_series"),
        Function(None, "nextval"),
        Function(None, "lower"),
    }
