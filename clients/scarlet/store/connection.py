"""The one way Scarlet's store reaches PostgreSQL: a pool, a time bound and one error.

Every aggregate hands its work to `Database.call`, so every call is bounded by the store's
timeout and every connection failure surfaces as `BackendUnavailable` naming host:port (never
the password), instead of a hang or a driver exception in the engine.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from autodevops.common.unavailable import BackendUnavailable

from . import migrations

T = TypeVar("T")
Conn = AsyncConnection[DictRow]


class Database:
    """A connection pool whose every use is time-bounded; safe to share between tasks."""

    def __init__(self, pool: AsyncConnectionPool[Conn], dsn: str, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout
        self._where, self._password = _describe(dsn)
        # Calls abandoned on timeout finish their cleanup in the background; kept referenced.
        self._abandoned: set[asyncio.Task[Any]] = set()

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        max_size: int = 5,
        timeout: float = 5.0,  # noqa: ASYNC109 - it bounds every later call too, not just this one
    ) -> Database:
        """Connects and applies missing migrations before any query runs."""
        where, password = _describe(dsn)
        try:
            async with asyncio.timeout(timeout):
                async with await psycopg.AsyncConnection.connect(
                    dsn, **_connect_options(timeout)
                ) as conn:
                    await migrations.apply(conn)
        except (psycopg.OperationalError, TimeoutError) as exc:
            raise _unavailable(where, password, exc, timeout) from exc
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            dsn,
            connection_class=AsyncConnection[DictRow],
            # Autocommit: a one-statement call is its own transaction, with no BEGIN and COMMIT
            # round trips; work of several statements opens `conn.transaction()`.
            kwargs={"row_factory": dict_row, "autocommit": True, **_connect_options(timeout)},
            min_size=1,
            max_size=max_size,
            timeout=timeout,
            check=AsyncConnectionPool.check_connection,
            open=False,
        )
        await pool.open(wait=False)
        return cls(pool, dsn, timeout)

    async def close(self) -> None:
        """Ends abandoned calls too, so none outlives the store."""
        abandoned = list(self._abandoned)
        for task in abandoned:
            task.cancel()
        if abandoned:
            await asyncio.wait(abandoned, timeout=self._timeout)
        await self._pool.close(timeout=self._timeout)

    async def ping(self) -> None:
        async def work(conn: Conn) -> None:
            await conn.execute("SELECT 1")

        await self.call(work)

    async def call(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Runs ``work`` on one pooled connection within the timeout, or raises
        BackendUnavailable. The connection autocommits: ``work`` of more than one statement
        runs them in ``conn.transaction()``.

        On timeout the call is abandoned rather than awaited: psycopg's own cancellation of a
        query on a silent server can take longer than the caller may wait.
        """
        task = asyncio.ensure_future(self._on_connection(work))
        try:
            done, _ = await asyncio.wait({task}, timeout=self._timeout)
        except asyncio.CancelledError:
            self._abandon(task)
            raise
        if not done:
            self._abandon(task)
            raise _unavailable(self._where, self._password, TimeoutError(), self._timeout)
        return task.result()

    def _abandon(self, task: asyncio.Task[T]) -> None:
        """Cancels a call nobody waits for any more, keeping it referenced until it ends."""
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so an abandoned call's error is not reported as lost

    async def _on_connection(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        try:
            async with self._pool.connection() as conn:
                return await work(conn)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unavailable(self._where, self._password, exc, self._timeout) from exc


async def one(cur: psycopg.AsyncCursor[DictRow]) -> DictRow:
    """The row of a statement that always yields one (an insert's or update's RETURNING)."""
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row


def _describe(dsn: str) -> tuple[str, str | None]:
    """``host:port`` for messages, and the password so it can be scrubbed from them."""
    params = conninfo_to_dict(dsn)
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST", "localhost")
    port = params.get("port") or os.environ.get("PGPORT", "5432")
    password = params.get("password")
    return f"{host}:{port}", str(password) if password else None


def _unavailable(
    where: str, password: str | None, cause: BaseException, timeout: float
) -> BackendUnavailable:
    if isinstance(cause, PoolTimeout):
        detail = f"no connection could be made within {timeout:g} s"
    elif isinstance(cause, TimeoutError):
        detail = f"no answer within {timeout:g} s"
    else:
        detail = " ".join(str(cause).split()) or type(cause).__name__
    return BackendUnavailable(
        "PostgreSQL",
        where,
        f"unavailable: {detail}",
        "that the server is running and reachable from here (host, port, network policy), and "
        "that the DSN's user, password and database are right",
        secrets=[password],
    )


def _connect_options(timeout: float) -> dict[str, Any]:
    """libpq options that make a dead peer fail fast instead of hanging a connection."""
    return {
        "connect_timeout": max(1, round(timeout)),
        "keepalives": 1,
        "keepalives_idle": max(1, round(timeout)),
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": max(1000, round(timeout * 1000)),
        "application_name": "scarlet",
    }
