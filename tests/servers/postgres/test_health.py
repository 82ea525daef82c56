"""The health and signal tools on situations the tests provoke for real: a three-session lock
chain rooted in a session idle in transaction, and a long-running query."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg.conninfo import make_conninfo

from autodevops.servers.core.output import parse_table
from tests.mcp_helpers import call_text
from tests.servers.postgres.conftest import APP_ROLE, Shop


@asynccontextmanager
async def app_session(
    shop: Shop, application: str, dsn: str | None = None
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A session of the application role (or of the given DSN's role)."""
    base = dsn or make_conninfo(shop.admin_dsn, dbname=shop.name, user=APP_ROLE)
    dsn = make_conninfo(base, application_name=application)
    conn = await psycopg.AsyncConnection.connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def wait_for(shop: Shop, condition: str, params: list[Any]) -> None:
    """Poll pg_stat_activity (as the superuser) until `condition` holds for some session,
    letting the sessions' own tasks run meanwhile."""
    deadline = time.monotonic() + 10
    with shop.admin() as admin:
        while time.monotonic() < deadline:
            found = admin.execute(f"SELECT 1 FROM pg_stat_activity WHERE {condition}", params)
            if found.fetchone():
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"no session came to {condition} {params}")


async def test_a_lock_chain_is_shown_and_ended_at_its_root(
    viewer: Any, dba: Any, shop: Shop
) -> None:
    async with (
        app_session(shop, "checkout") as holder,
        app_session(shop, "migration") as migration,
        app_session(shop, "report") as report,
    ):
        await holder.execute("SELECT * FROM orders WHERE id = 1 FOR UPDATE")  # stays open
        locking = asyncio.create_task(
            migration.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        )
        await wait_for(shop, "application_name = %s AND wait_event_type = 'Lock'", ["migration"])
        counting = asyncio.create_task(report.execute("SELECT count(*) FROM order_items, orders"))
        await wait_for(shop, "application_name = %s AND wait_event_type = 'Lock'", ["report"])
        root, middle, tail = (c.info.backend_pid for c in (holder, migration, report))

        text, error = await call_text(viewer, "blocking", {})
        assert not error, text
        rows = {row["PID"]: row for row in parse_table(text).records()}
        assert set(rows) == {str(root), str(middle), str(tail)}
        assert rows[str(root)]["BLOCKED BY"] == "-"
        assert rows[str(root)]["STATE"] == "idle in transaction"
        assert "FOR UPDATE" in rows[str(root)]["QUERY"]
        assert rows[str(middle)]["BLOCKED BY"] == str(root)
        assert rows[str(middle)]["WAITS FOR"] == "AccessExclusiveLock on relation orders"
        assert rows[str(tail)]["BLOCKED BY"] == str(middle)
        assert rows[str(tail)]["WAITS FOR"] == "AccessShareLock on relation orders"
        assert {row["ROOT"] for row in rows.values()} == {str(root)}

        text, _ = await call_text(viewer, "sessions", {"state": "idle in transaction"})
        idle = parse_table(text).records()
        assert [(r["PID"], r["APPLICATION"]) for r in idle] == [(str(root), "checkout")]
        text, _ = await call_text(viewer, "health", {})
        assert "idle in transaction: 1 session(s), the oldest pid " + str(root) in text
        assert "blocked: 2 session(s) waiting for locks" in text
        text, _ = await call_text(viewer, "connections", {})
        groups = parse_table(text).records()
        assert {"DATABASE": shop.name, "USER": APP_ROLE, "APPLICATION": "checkout",
                "STATE": "idle in transaction", "COUNT": "1"} in groups  # fmt: skip

        # The server's own statements wait at most their lock timeout behind the chain.
        text, error = await call_text(viewer, "query", {"sql": "SELECT count(*) FROM orders"})
        assert error and "waited longer than the lock timeout (1s)" in text

        text, error = await call_text(dba, "terminate_backend", {"pid": root})
        assert not error, text
        assert f"pid {root} ({APP_ROLE}, database {shop.name}) terminated" == text
        await locking  # the migration gets its lock once the root is gone
        text, error = await call_text(dba, "cancel_query", {"pid": tail})
        assert not error and "asked to cancel its query" in text
        with pytest.raises(pg_errors.QueryCanceled):
            await counting
        await migration.rollback()
        text, _ = await call_text(viewer, "blocking", {})
        assert text == "no session is waiting for a lock"


async def test_a_long_query_is_shown_and_cancelled(viewer: Any, dba: Any, shop: Shop) -> None:
    async with app_session(shop, "batch") as batch:
        sleeping = asyncio.create_task(batch.execute("SELECT pg_sleep(60)"))
        await wait_for(shop, "application_name = %s AND state = 'active'", ["batch"])
        await asyncio.sleep(1.2)
        pid = batch.info.backend_pid
        text, error = await call_text(viewer, "sessions", {"min_seconds": 1})
        assert not error
        rows = [r for r in parse_table(text).records() if r["PID"] == str(pid)]
        assert rows and rows[0]["QUERY"] == "SELECT pg_sleep(60)"
        assert rows[0]["WAIT"] == "Timeout:PgSleep"
        text, _ = await call_text(viewer, "health", {})
        assert f"longest running query: pid {pid} ({APP_ROLE}@{shop.name})" in text
        text, _ = await call_text(viewer, "sessions", {"min_seconds": 3600})
        assert str(pid) not in text
        text, error = await call_text(dba, "cancel_query", {"pid": pid})
        assert not error, text
        with pytest.raises(pg_errors.QueryCanceled):
            await sleeping


async def test_signals_refuse_superusers_the_server_itself_and_unnamed_roles(
    dba: Any, viewer: Any, shop: Shop
) -> None:
    with shop.admin() as admin:
        superuser = admin.execute("SELECT pg_backend_pid()").fetchone()
        assert superuser is not None
        text, error = await call_text(dba, "terminate_backend", {"pid": superuser[0]})
        assert error and "a superuser" in text
        assert admin.execute("SELECT 1").fetchone() == (1,)
    async with app_session(shop, "own", dsn=shop.dsn) as own:
        text, error = await call_text(dba, "terminate_backend", {"pid": own.info.backend_pid})
        assert error and "this server's own role" in text
    text, error = await call_text(dba, "cancel_query", {"pid": 999_999})
    assert error and "no session with pid 999999" in text
    text, error = await call_text(viewer, "terminate_backend", {"pid": 1})
    assert error and "not allowed" in text


async def test_vacuum_and_replication(viewer: Any, shop: Shop) -> None:
    with shop.admin() as admin:
        admin.execute("UPDATE events SET kind = 'view' WHERE id <= 6000")
        admin.execute("SELECT pg_stat_force_next_flush()")
    deadline = time.monotonic() + 10
    while True:
        text, error = await call_text(viewer, "vacuum", {})
        assert not error, text
        top = parse_table(text).records()[0]
        if top["TABLE"] == "public.events" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert top["TABLE"] == "public.events"
    assert int(top["DEAD ROWS"]) >= 6000
    assert "of autovacuum_freeze_max_age" in top["XID AGE"]
    text, _ = await call_text(viewer, "health", {})
    assert "most dead rows in " + shop.name + ": public.events" in text
    assert "replication: no standbys connected" in text
    text, error = await call_text(viewer, "replication", {})
    assert not error and "no replication slots" in text
