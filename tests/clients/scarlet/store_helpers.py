"""Fixtures for the tests of Scarlet's store: one fresh database per test on the real PostgreSQL.

A test module imports the fixture functions it uses, which registers them with pytest under
the names `db_url` and `store`.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from autodevops.clients.scarlet.store import OpsStore
from devstack.postgres import PostgresHandle

ALERT = {"labels": {"alertname": "KubePodCrashLooping", "namespace": "shop"}, "status": "firing"}


@pytest.fixture(name="db_url")
async def fresh_database(postgres: PostgresHandle) -> AsyncIterator[str]:
    """A DSN to a database created for this test alone, dropped afterwards."""
    name = f"scarlet_{secrets.token_hex(6)}"
    async with await psycopg.AsyncConnection.connect(postgres.url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_conninfo(postgres.url, dbname=name)
    async with await psycopg.AsyncConnection.connect(postgres.url, autocommit=True) as admin:
        await admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(name="store")
async def store_on_fresh_database(db_url: str) -> AsyncIterator[OpsStore]:
    opened = await OpsStore.open(db_url)
    yield opened
    await opened.close()


async def query(
    dsn: str, statement: str | sql.SQL | sql.Composed, *params: Any
) -> list[tuple[Any, ...]]:
    """Direct SQL for checks and for backdating rows, outside the store."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(statement, params)
        return await cur.fetchall() if cur.description else []
