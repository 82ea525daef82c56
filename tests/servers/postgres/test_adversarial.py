"""Every way out of read-only that the issue names is refused twice: by the gate where it can
tell (through a real MCP client), and by the database always (the same statement sent
straight to PostgreSQL as the server's login role, no gate in the way)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from tests.mcp_helpers import call_text
from tests.servers.postgres.conftest import Shop

REFUSED_BY_PRIVILEGE = (pg_errors.InsufficientPrivilege, pg_errors.ReadOnlySqlTransaction)

# (statement, what the gate says, what PostgreSQL raises when the role sends it itself)
CASES: list[tuple[str, str, Any]] = [
    ("SELECT pg_read_file('/etc/passwd')", "volatile", pg_errors.InsufficientPrivilege),
    ("SELECT * FROM pg_ls_dir('.')", "volatile", pg_errors.InsufficientPrivilege),
    ("SELECT lo_import('/etc/passwd')", "volatile", REFUSED_BY_PRIVILEGE),
    ("SELECT lo_export(1, '/tmp/autodevops-lo')", "volatile", REFUSED_BY_PRIVILEGE),
    ("COPY (SELECT 1) TO PROGRAM 'id'", "COPY statement", pg_errors.InsufficientPrivilege),
    ("COPY customers TO '/tmp/autodevops-copy'", "COPY statement", REFUSED_BY_PRIVILEGE),
    ("COPY customers FROM '/etc/hostname'", "COPY statement", REFUSED_BY_PRIVILEGE),
    (
        "SELECT * FROM dblink('host=127.0.0.1 user=postgres dbname=postgres',"
        " 'DROP DATABASE postgres') AS t(x text)",
        "volatile",
        psycopg.Error,  # dblink demands a password of non-superusers
    ),
    (
        "CREATE SERVER evil FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1')",
        "CREATE",
        REFUSED_BY_PRIVILEGE,
    ),
    ("SET ROLE postgres", "SET statement", pg_errors.InsufficientPrivilege),
    ("SET SESSION AUTHORIZATION postgres", "SET statement", pg_errors.InsufficientPrivilege),
    (
        "SELECT set_config('transaction_read_only', 'off', true)",
        "volatile",
        pg_errors.ActiveSqlTransaction,
    ),
    ("COMMIT; DROP TABLE orders", "2 statements", REFUSED_BY_PRIVILEGE),
    ("DO $$ BEGIN DELETE FROM orders; END $$", "DO statement", REFUSED_BY_PRIVILEGE),
    ("SELECT nextval('orders_id_seq')", "volatile", REFUSED_BY_PRIVILEGE),
    ("SELECT * FROM orders FOR UPDATE", "locks rows", REFUSED_BY_PRIVILEGE),
    (
        "WITH gone AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM gone",
        "data-modifying DELETE",
        REFUSED_BY_PRIVILEGE,
    ),
    ("SELECT id INTO orders_copy FROM orders", "SELECT INTO", REFUSED_BY_PRIVILEGE),
    ("UPDATE orders SET status = 'x'", "UPDATE statement", REFUSED_BY_PRIVILEGE),
]


@pytest.fixture(scope="module", autouse=True)
def extensions(shop: Shop) -> None:
    """dblink and postgres_fdw installed for real, so refusing them means something."""
    with shop.admin() as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS dblink")
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")


def as_role(shop: Shop) -> psycopg.Connection[Any]:
    """The server's login role with no gate: its own defaults and grants only."""
    return psycopg.connect(shop.dsn)


def orders_intact(shop: Shop) -> None:
    with shop.admin() as conn:
        row = conn.execute("SELECT count(*), count(*) FILTER (WHERE status = 'x') FROM orders")
        assert row.fetchone() == (1000, 0)


@pytest.mark.parametrize(("statement", "gate_says", "database_raises"), CASES)
async def test_refused_by_the_gate(
    viewer: Any, shop: Shop, statement: str, gate_says: str, database_raises: Any
) -> None:
    text, error = await call_text(viewer, "query", {"sql": statement})
    assert error, text
    assert gate_says in text
    text, error = await call_text(viewer, "explain", {"sql": statement})
    assert error and gate_says in text
    orders_intact(shop)


@pytest.mark.parametrize(("statement", "gate_says", "database_raises"), CASES)
def test_refused_by_the_database(
    shop: Shop, statement: str, gate_says: str, database_raises: Any
) -> None:
    with as_role(shop) as conn, pytest.raises(database_raises):
        conn.execute(statement)
    orders_intact(shop)


def test_the_database_refuses_two_statements_on_the_protocol_the_server_uses(shop: Shop) -> None:
    with as_role(shop) as conn, pytest.raises(pg_errors.SyntaxError, match="multiple commands"):
        conn.execute("SELECT 1; SELECT 2", binary=True)


def test_reopening_writes_for_the_session_still_writes_nothing(shop: Shop) -> None:
    """set_config may turn the role's read-only default off for its session, but the role has
    no write privilege; and the server begins every transaction READ ONLY and resets each
    connection (DISCARD ALL) before reusing it."""
    with as_role(shop) as conn:
        conn.execute("SELECT set_config('default_transaction_read_only', 'off', false)")
        conn.commit()
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("UPDATE orders SET status = 'x'")
    orders_intact(shop)


async def test_set_config_is_refused_by_the_gate(viewer: Any) -> None:
    text, error = await call_text(
        viewer,
        "query",
        {"sql": "SELECT set_config('default_transaction_read_only', 'off', false)"},
    )
    assert error and "set_config(text,text,boolean)" in text


async def test_signals_and_locks_are_refused_by_the_gate(viewer: Any, shop: Shop) -> None:
    with shop.admin() as admin:
        pid = admin.execute("SELECT pg_backend_pid()").fetchone()
        assert pid is not None
        for statement in (
            f"SELECT pg_terminate_backend({pid[0]})",
            "SELECT pg_advisory_lock(42)",
        ):
            text, error = await call_text(viewer, "query", {"sql": statement})
            assert error and "volatile" in text, text
        assert admin.execute("SELECT 1").fetchone() == (1,)


def test_the_database_refuses_to_signal_a_superuser(shop: Shop) -> None:
    with shop.admin() as admin, as_role(shop) as conn:
        pid = admin.execute("SELECT pg_backend_pid()").fetchone()
        assert pid is not None
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("SELECT pg_terminate_backend(%s)", [pid[0]])
        assert admin.execute("SELECT 1").fetchone() == (1,)


def test_the_database_bounds_an_advisory_lock_wait_by_the_role_lock_timeout(shop: Shop) -> None:
    """PostgreSQL allows advisory locks in read-only transactions; the role's lock_timeout
    (from `policy sql`) bounds the wait, and the server's DISCARD ALL releases any it got."""
    with shop.admin() as admin, as_role(shop) as conn:
        admin.execute("SELECT pg_advisory_lock(4242)")
        with pytest.raises(pg_errors.LockNotAvailable):
            conn.execute("SELECT pg_advisory_lock(4242)")


async def test_a_query_past_the_timeout_is_cancelled_by_postgresql(viewer: Any) -> None:
    text, error = await call_text(viewer, "query", {"sql": "SELECT pg_sleep(5)"})
    assert error
    assert "ran longer than the statement timeout (2s) and PostgreSQL cancelled it" in text


def test_the_role_own_statement_timeout_cancels_without_the_server(shop: Shop) -> None:
    with as_role(shop) as conn, pytest.raises(pg_errors.QueryCanceled):
        conn.execute("SELECT pg_sleep(30)")


async def test_tables_outside_the_scope_are_refused_as_postgresql_resolves_them(
    shop: Shop, tmp_path: Any
) -> None:
    """The analyst may read orders, order_items and products; customers is readable by the
    login role (the viewer needs it) but not by this role. Views, CTEs, subqueries and
    schema-qualified or quoted names all resolve to the same table in the plan."""
    from tests.servers.postgres.conftest import postgres_mcp

    async with postgres_mcp(shop, "analyst", tmp_path) as (client, _):
        text, error = await call_text(client, "query", {"sql": "SELECT count(*) FROM orders"})
        assert not error, text
        for statement in (
            "SELECT * FROM customers",
            'SELECT * FROM "public"."customers"',
            "SELECT * FROM order_totals",
            "WITH c AS (SELECT * FROM customers) SELECT count(*) FROM c",
            "SELECT (SELECT max(email) FROM customers), count(*) FROM orders",
            "SELECT * FROM billing.invoices",
        ):
            text, error = await call_text(client, "query", {"sql": statement})
            assert error, statement
            assert "outside your scope" in text, text
