"""A shop database on the stack's real PostgreSQL, the server's login role made by
`autodevops policy sql` and applied with psql, and MCP sessions with the server in memory.

The role authenticates with a password (scram-sha-256): a pg_hba.conf line for the test roles
alone is put before the stack's trust lines, so the wrong-password error is the real one.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from fastmcp import Client
from psycopg import sql
from psycopg.conninfo import make_conninfo

from autodevops.servers.postgres.client import PostgresBackend
from autodevops.servers.postgres.server import SPEC
from devstack import postgres as stack_postgres
from devstack.postgres import PostgresHandle
from devstack.services import cli
from tests.mcp_helpers import server_session

# One fixed name: PostgreSQL 15's pg_hba.conf matches user names exactly.
ROLE = "autodevops_mcp_test"
HBA_LINE = f"host all {ROLE} 127.0.0.1/32 scram-sha-256"
APP_ROLE = "app_shop"

SCHEMA = """
CREATE TABLE customers (
    id bigserial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE customers IS 'people who bought something';
CREATE TABLE products (
    id bigserial PRIMARY KEY,
    sku text NOT NULL UNIQUE,
    title text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents >= 0)
);
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    status text NOT NULL DEFAULT 'new',
    total_cents integer NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE TABLE order_items (
    order_id bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id bigint NOT NULL REFERENCES products (id),
    quantity integer NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL, payload jsonb, at timestamptz);
CREATE TABLE api_credentials (service text PRIMARY KEY, token text NOT NULL);
CREATE VIEW order_totals AS
    SELECT c.email, sum(o.total_cents) AS spent
    FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.email;
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, order_id bigint REFERENCES orders (id),
    amount_cents integer NOT NULL);
INSERT INTO customers (email, name, password_hash)
    SELECT 'user' || g || '@example.com', 'User ' || g, 'scrypt$' || md5(g::text)
    FROM generate_series(1, 200) g;
INSERT INTO products (sku, title, price_cents)
    SELECT 'SKU-' || g, 'Product ' || g, g * 100 FROM generate_series(1, 50) g;
INSERT INTO orders (customer_id, status, total_cents)
    SELECT 1 + g % 200, CASE WHEN g % 10 = 0 THEN 'refunded' ELSE 'paid' END, g * 7
    FROM generate_series(1, 1000) g;
INSERT INTO order_items SELECT o.id, 1 + o.id % 50, 1 + o.id % 3 FROM orders o;
INSERT INTO events (kind, payload, at)
    SELECT 'click', jsonb_build_object('n', g), now() FROM generate_series(1, 30000) g;
INSERT INTO api_credentials VALUES ('payments', 'sk_live_0123456789abcdef');
INSERT INTO billing.invoices (order_id, amount_cents) SELECT id, total_cents FROM orders LIMIT 10;
ANALYZE;
"""


@dataclass
class Shop:
    """The shop database, its superuser DSN, the server's role and its DSN."""

    name: str
    admin_dsn: str
    role: str
    password: str
    dsn: str
    policy: dict[str, Any]
    stack: PostgresHandle

    def admin(self, database: str | None = None) -> psycopg.Connection[Any]:
        return psycopg.connect(
            make_conninfo(self.admin_dsn, dbname=database or self.name), autocommit=True
        )


def test_policy(database: str) -> dict[str, Any]:
    only_shop = {"allow": [database]}
    return {
        "server": "postgres",
        "roles": {
            "viewer": {
                "tools": ["*"],
                "deny_tools": ["cancel_query", "terminate_backend"],
                "scope": {
                    "databases": only_shop,
                    "tables": {"allow": ["*"], "deny": ["*.api_credentials"]},
                    "statement_timeout_seconds": 2,
                    "lock_timeout_seconds": 1,
                },
            },
            "analyst": {
                "tools": ["query", "explain", "list_tables", "describe_table"],
                "scope": {
                    "databases": only_shop,
                    "schemas": {"allow": ["public"]},
                    "tables": {"allow": ["public.orders", "public.order_items", "public.products"]},
                    "explain_analyze": True,
                    "statement_timeout_seconds": 3,
                },
                "limits": {"max_items": 5, "max_bytes": 2000},
            },
            "dba": {
                "tools": ["*"],
                "scope": {
                    "databases": only_shop,
                    "tables": {"allow": ["*"], "deny": ["*.api_credentials"]},
                    "explain_analyze": True,
                    "signal_roles": ["app_*"],
                    "statement_timeout_seconds": 5,
                },
            },
        },
    }


def _hba(stack: PostgresHandle) -> None:
    """Password authentication for the test roles, before the stack's trust lines."""
    path = stack.state_dir / stack_postgres.NAME / "data" / "pg_hba.conf"
    lines = path.read_text().splitlines()
    if HBA_LINE not in lines:
        path.write_text("\n".join([HBA_LINE, *lines]) + "\n")
    with psycopg.connect(stack.url, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")


def apply_sql(stack: PostgresHandle, script: str) -> None:
    """Apply a `policy sql` script the way its header says: psql, stopping at the first error."""
    subprocess.run(
        [str(stack_postgres.bindir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", stack.url],
        input=script,
        text=True,
        check=True,
        capture_output=True,
    )


def policy_sql(policy_file: Path, role: str, admin_dsn: str) -> str:
    dsn_file = policy_file.with_suffix(".dsn")
    dsn_file.write_text(admin_dsn)
    done = subprocess.run(
        [*cli(), "policy", "sql", str(policy_file), "--role", role, "--dsn-file", str(dsn_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="package")
def shop(postgres: PostgresHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    name = f"shop_{secrets.token_hex(4)}"
    role = ROLE
    password = secrets.token_urlsafe(18)
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute(
            "DO $$ BEGIN CREATE ROLE app_shop LOGIN;"
            " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    admin_dsn = make_conninfo(postgres.url, dbname=name)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute(f"GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    _hba(postgres)
    policy = test_policy(name)
    workdir = tmp_path_factory.mktemp("postgres-policy")
    policy_file = workdir / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    apply_sql(postgres, policy_sql(policy_file, role, postgres.url))
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
        )
    dsn = make_conninfo(postgres.url, user=role, password=password, dbname=name)
    yield Shop(name, postgres.url, role, password, dsn, policy, postgres)
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@asynccontextmanager
async def postgres_mcp(
    shop: Shop, role: str, workdir: Path, dsn: str | None = None
) -> AsyncIterator[tuple[Client[Any], Path]]:
    """An MCP client of the server built in memory, as the shop's login role, for `role`."""
    backend = PostgresBackend(dsn or shop.dsn, pool_size=2, connect_timeout=3)
    async with server_session(SPEC, backend, shop.policy, role, workdir) as session:
        yield session


@pytest.fixture
async def viewer(shop: Shop, tmp_path: Path) -> AsyncIterator[Client[Any]]:
    async with postgres_mcp(shop, "viewer", tmp_path) as (client, _):
        yield client


@pytest.fixture
async def dba(shop: Shop, tmp_path: Path) -> AsyncIterator[Client[Any]]:
    async with postgres_mcp(shop, "dba", tmp_path) as (client, _):
        yield client
