"""`autodevops policy sql` gives the server's login role exactly what the policy needs and
nothing else, and re-running it after the policy narrows takes back what is no longer needed.

The role every other test here uses was made by this command and applied with psql (see
conftest), so every allowed tool working in those tests is the proof that the grants suffice.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import errors as pg_errors
from psycopg.conninfo import make_conninfo

from devstack.services import cli
from tests.servers.postgres.conftest import Shop, apply_sql, policy_sql

PUBLIC_TABLES = {
    "public.customers",
    "public.products",
    "public.orders",
    "public.order_items",
    "public.events",
    "public.order_totals",
    "billing.invoices",
}
WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def privileges(shop: Shop) -> dict[str, Any]:
    with shop.admin() as conn:
        role = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
            " rolcanlogin, rolconnlimit, rolconfig FROM pg_roles WHERE rolname = %s",
            [shop.role],
        ).fetchone()
        member_of = {
            name
            for (name,) in conn.execute(
                "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
                " JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = %s",
                [shop.role],
            )
        }
        tables = {}
        for schema, table in conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'v')"
            " AND n.nspname IN ('public', 'billing')"
        ).fetchall():
            name = f"{schema}.{table}"
            tables[name] = {
                privilege
                for privilege in ("SELECT", *WRITES)
                if conn.execute(
                    "SELECT has_table_privilege(%s, %s, %s)", [shop.role, name, privilege]
                ).fetchone()
                == (True,)
            }
        schemas = {
            schema: (usage, create)
            for schema, usage, create in conn.execute(
                "SELECT nspname, has_schema_privilege(%s, oid, 'USAGE'),"
                " has_schema_privilege(%s, oid, 'CREATE') FROM pg_namespace"
                " WHERE nspname IN ('public', 'billing')",
                [shop.role, shop.role],
            )
        }
        database = conn.execute(
            "SELECT has_database_privilege(%s, %s, 'CONNECT'),"
            " has_database_privilege(%s, %s, 'CREATE')",
            [shop.role, shop.name, shop.role, shop.name],
        ).fetchone()
    return {
        "role": role,
        "member_of": member_of,
        "tables": tables,
        "schemas": schemas,
        "database": database,
    }


def test_the_role_has_exactly_what_the_policy_needs(shop: Shop) -> None:
    found = privileges(shop)
    superuser, createdb, createrole, replication, bypassrls, login, limit, config = found["role"]
    assert (superuser, createdb, createrole, replication, bypassrls) == (False,) * 5
    assert login is True and limit == 10
    assert sorted(config) == [
        "default_transaction_read_only=on",
        "idle_in_transaction_session_timeout=10000ms",
        "lock_timeout=2000ms",
        "statement_timeout=5000ms",
    ]
    # Health tools need pg_monitor; the dba's signals need pg_signal_backend.
    assert found["member_of"] == {"pg_monitor", "pg_signal_backend"}
    expected = {name: {"SELECT"} for name in PUBLIC_TABLES}
    expected["public.api_credentials"] = set()  # denied to every role of the policy
    assert found["tables"] == expected
    assert found["schemas"] == {"public": (True, False), "billing": (True, False)}
    assert found["database"] == (True, False)


def test_rerun_with_a_narrower_policy_takes_back_the_rest(shop: Shop, tmp_path: Path) -> None:
    narrow = {
        "server": "postgres",
        "roles": {
            "orders": {
                "tools": ["query", "list_tables"],
                "scope": {
                    "databases": {"allow": [shop.name]},
                    "tables": {"allow": ["public.orders"]},
                },
            }
        },
    }
    original = tmp_path / "original.yaml"
    original.write_text(yaml.safe_dump(shop.policy))
    narrow_file = tmp_path / "narrow.yaml"
    narrow_file.write_text(yaml.safe_dump(narrow))
    try:
        apply_sql(shop.stack, policy_sql(narrow_file, shop.role, shop.admin_dsn))
        found = privileges(shop)
        assert found["member_of"] == set()
        granted = {name for name, privileges in found["tables"].items() if privileges}
        assert granted == {"public.orders"}
        assert found["schemas"] == {"public": (True, False), "billing": (False, False)}
        with psycopg.connect(shop.dsn) as conn:
            assert conn.execute("SELECT count(*) FROM orders").fetchone() == (1000,)
        with psycopg.connect(shop.dsn) as conn, pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM customers")
    finally:
        apply_sql(shop.stack, policy_sql(original, shop.role, shop.admin_dsn))
    assert privileges(shop)["member_of"] == {"pg_monitor", "pg_signal_backend"}


def test_health_views_hide_other_sessions_without_pg_monitor(shop: Shop) -> None:
    """What pg_monitor adds, seen from the role: other roles' queries in pg_stat_activity."""
    with shop.admin() as admin:
        admin.execute("SELECT 1 AS marker_for_the_test")
        pid = admin.info.backend_pid
        seen = "SELECT query FROM pg_stat_activity WHERE pid = %s"
        with psycopg.connect(shop.dsn, autocommit=True) as conn:
            assert conn.execute(seen, [pid]).fetchone() == ("SELECT 1 AS marker_for_the_test",)
        admin.execute(f'REVOKE pg_monitor FROM "{shop.role}"')
        try:
            dsn = make_conninfo(shop.dsn, application_name="without-monitor")
            with psycopg.connect(dsn, autocommit=True) as conn:
                assert conn.execute(seen, [pid]).fetchone() == ("<insufficient privilege>",)
        finally:
            admin.execute(f'GRANT pg_monitor TO "{shop.role}"')


def test_policy_sql_needs_an_administrator_dsn(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"server": "postgres", "roles": {"r": {"tools": ["*"]}}}))
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [*cli(), "policy", "sql", str(policy)], capture_output=True, text=True, env=environ
    )
    assert done.returncode != 0
    assert "no database: pass --dsn-file FILE or set DATABASE_URL" in done.stderr
    done = subprocess.run(
        [*cli(), "policy", "sql", str(policy), "--dsn-file", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "No such file or directory" in done.stderr
