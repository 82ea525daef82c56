"""Scarlet's store and its PostgreSQL: migrations, and the one way a failing server surfaces.

Against the real PostgreSQL, one fresh database per test; a relay in front of it plays a hung
or stopped server.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from psycopg.conninfo import make_conninfo

from autodevops.clients.scarlet.store import OpsStore
from autodevops.clients.scarlet.store.migrations import MIGRATIONS
from autodevops.common.unavailable import BackendUnavailable
from devstack.base import free_port
from devstack.postgres import PostgresHandle

from .store_helpers import (
    fresh_database,  # noqa: F401 (a fixture)
    query,
)


async def test_migrations_apply_once_even_when_two_replicas_start_together(db_url: str) -> None:
    first, second = await asyncio.gather(OpsStore.open(db_url), OpsStore.open(db_url))
    third = await OpsStore.open(db_url)
    try:
        rows = await query(db_url, "SELECT version FROM schema_migrations ORDER BY version")
        assert [row[0] for row in rows] == [migration.version for migration in MIGRATIONS]
        tables = await query(
            db_url,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "ORDER BY table_name",
        )
        assert [row[0] for row in tables] == [
            "actions",
            "approvals",
            "runs",
            "schema_migrations",
            "steps",
            "tool_calls",
        ]
        run, _ = await first.runs.submit("manual", "is the shop healthy?")
        fetched = await third.runs.get(run.id)
        assert fetched is not None and fetched.question == "is the shop healthy?"
    finally:
        for opened in (first, second, third):
            await opened.close()


async def test_unreachable_postgres_is_named_without_the_password() -> None:
    port = free_port()
    dsn = f"postgresql://scarlet:s3cret-pw@127.0.0.1:{port}/ops"
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as raised:
        await OpsStore.open(dsn, timeout=1.0)
    assert time.monotonic() - started < 1.5
    message = str(raised.value)
    assert f"127.0.0.1:{port}" in message
    assert "s3cret-pw" not in message
    assert "running" in message and "reachable" in message


class Relay:
    """A TCP relay in front of PostgreSQL that can hold every byte (a hung server or a
    partition) or cut every connection and close its port (a server that went down)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.transport.abort()


async def until_available(store: OpsStore, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            await store.ping()
            return
        except BackendUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_a_silent_or_stopped_server_fails_fast_and_the_store_recovers(
    postgres: PostgresHandle, db_url: str
) -> None:
    relay = Relay(postgres.port)
    await relay.start()
    dsn = make_conninfo(db_url, host="127.0.0.1", port=str(relay.port), password="pw-never-shown")
    store = await OpsStore.open(dsn, timeout=1.0)
    try:
        run, _ = await store.runs.submit("manual", "q")

        relay.flowing.clear()
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as silent:
            async with asyncio.timeout(5):  # a hang fails the test instead of stalling it
                await store.runs.claim("w1")
        assert time.monotonic() - started < 1.5
        started = time.monotonic()
        with pytest.raises(BackendUnavailable):
            async with asyncio.timeout(5):
                await OpsStore.open(dsn, timeout=1.0)
        assert time.monotonic() - started < 1.5
        assert f"127.0.0.1:{relay.port}" in str(silent.value)
        assert "pw-never-shown" not in str(silent.value)
        relay.flowing.set()
        await until_available(store, 15)

        await relay.stop()
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as down:
            async with asyncio.timeout(5):
                await store.runs.get(run.id)
        assert time.monotonic() - started < 1.5
        assert f"127.0.0.1:{relay.port}" in str(down.value)
        assert "pw-never-shown" not in str(down.value)

        await relay.start()
        await until_available(store, 15)
        fetched = await store.runs.get(run.id)
        assert fetched is not None and fetched.question == "q"
    finally:
        await store.close()
        await relay.stop()
