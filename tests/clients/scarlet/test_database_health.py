"""Scarlet's database-health analyzer against `autodevops serve postgres --transport http` on the
stack's real PostgreSQL, with a lock chain and a session idle in transaction provoked for real."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.clients.scarlet.database_health import Thresholds, database_health
from devstack.postgres import PostgresHandle
from devstack.services import McpServer, start_mcp_server

TOKEN = "scarlet-db-token-0123456789"
QUICK = Thresholds(blocked_seconds=1, idle_in_transaction_seconds=1)


@pytest.fixture(scope="module")
def database(postgres: PostgresHandle) -> Iterator[str]:
    name = f"scarlet_db_{secrets.token_hex(4)}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = make_conninfo(postgres.url, dbname=name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE jobs (id int PRIMARY KEY, state text)")
        conn.execute("INSERT INTO jobs SELECT g, 'queued' FROM generate_series(1, 10) g")
    yield dsn
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpServer]:
    workdir = tmp_path_factory.mktemp("scarlet-db")
    dsn_file = workdir / "dsn"
    dsn_file.write_text(database)
    policy = {
        "server": "postgres",
        "roles": {
            "scarlet": {
                "tools": ["health", "connections", "blocking", "sessions", "terminate_backend"],
                "scope": {"signal_roles": ["app_*"]},
            }
        },
    }
    tokens = [{"token": TOKEN, "subject": "scarlet", "roles": ["scarlet"]}]
    running = start_mcp_server(workdir, "postgres", policy, tokens, "--dsn-file", str(dsn_file))
    yield running
    running.stop()


@pytest.fixture
async def pool(server: McpServer) -> AsyncIterator[McpPool]:
    async with McpPool([HttpEndpoint("orders-db", server.url, TOKEN)]) as opened:
        yield opened


async def _session(dsn: str, application: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(make_conninfo(dsn, application_name=application))


async def test_a_lock_chain_and_an_idle_transaction_become_findings(
    pool: McpPool, database: str
) -> None:
    holder = await _session(database, "checkout")
    waiter = await _session(database, "worker")
    try:
        await holder.execute("UPDATE jobs SET state = 'taken' WHERE id = 1")  # left open
        waiting = asyncio.create_task(waiter.execute("UPDATE jobs SET state = 'x' WHERE id = 1"))
        await asyncio.sleep(2.5)
        notes: list[str] = []
        findings = await database_health(pool, notes, QUICK)
        assert notes == []
        by_kind = {f.analyzer: f for f in findings}
        chain = by_kind["postgres_lock_chain"]
        root = holder.info.backend_pid
        assert chain.subject == f"orders-db pid {root}"
        assert chain.severity == "critical"
        assert "1 session(s) waiting for locks behind pid" in chain.summary
        assert "idle in transaction" in chain.likely_cause
        assert chain.evidence[0].tool == "orders-db__blocking"
        assert str(waiter.info.backend_pid) in chain.evidence[0].excerpt
        assert [(a.tool, a.arguments) for a in chain.proposed_actions] == [
            ("orders-db__terminate_backend", {"pid": root})
        ]
        idle = by_kind["postgres_idle_in_transaction"]
        assert idle.subject == f"orders-db pid {root}"
        assert "(checkout) has been idle in a transaction for" in idle.summary
        assert "postgres_connections" not in by_kind  # far from the limit
        waiting.cancel()
    finally:
        await holder.close()
        await waiter.close()


async def test_connections_near_the_limit(pool: McpPool) -> None:
    findings = await database_health(
        pool, [], Thresholds(connections_warning=0.0, connections_critical=0.99)
    )
    [found] = [f for f in findings if f.analyzer == "postgres_connections"]
    assert found.severity == "warning"
    assert found.summary.startswith(("1 of max_connections 100", "2 of max_connections 100"))
    assert found.evidence[0].tool == "orders-db__connections"


async def test_a_quiet_database_gives_nothing(pool: McpPool) -> None:
    notes: list[str] = []
    assert await database_health(pool, notes) == []
    assert notes == []


async def test_a_server_that_lists_nothing_to_scarlet_is_left_alone(server: McpServer) -> None:
    async with McpPool([HttpEndpoint("orders-db", server.url, "not-a-valid-token-012345")]) as p:
        notes: list[str] = []
        assert await database_health(p, notes) == []
        assert notes == []
