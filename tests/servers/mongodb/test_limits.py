"""What bounds every call: maxTimeMS on every command sent, memory that stays small when a
pipeline would return a million documents, and clear errors when MongoDB is down, refuses our
credentials or runs out of time."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import monitoring

from autodevops.common.unavailable import BackendUnavailable
from autodevops.servers.core.output import parse_cut
from autodevops.servers.mongodb.client import MongoBackend
from devstack.base import free_port
from devstack.ferretdb import FerretHandle
from tests.mcp_helpers import call_text
from tests.servers.mongodb.conftest import FANOUT, Session

# Commands that carry no maxTimeMS of their own: the driver's handshake and cursor upkeep
# (a getMore is bounded by its cursor's maxTimeMS).
_UPKEEP = {"hello", "ismaster", "isMaster", "getMore", "killCursors", "endSessions", "ping"}


class Sent(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def sent() -> Iterator[Sent]:
    """Commands of every client created while the test runs."""
    listener = Sent()
    monitoring.register(listener)
    yield listener
    monitoring._LISTENERS.command_listeners.remove(listener)


async def test_every_operation_carries_the_role_max_time(
    session: Session, shop: str, sent: Sent
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("list_databases", {}),
        ("list_collections", {"database": shop}),
        ("indexes", {"database": shop, "collection": "orders"}),
        ("schema", {"database": shop, "collection": "orders"}),
        ("find", {"database": shop, "collection": "orders"}),
        ("count", {"database": shop, "collection": "orders"}),
        ("aggregate", {"database": shop, "collection": "orders", "pipeline": []}),
        ("explain", {"database": shop, "collection": "orders"}),
        ("server_status", {}),
        ("current_ops", {}),
    ]
    async with session("viewer") as (client, _):
        for tool, arguments in calls:
            await call_text(client, tool, arguments)
    names = set()
    for name, command in sent.commands:
        if name in _UPKEEP:
            continue
        names.add(name)
        assert command.get("maxTimeMS") == 10_000, (name, command)
    assert {"listDatabases", "listCollections", "listIndexes", "collStats", "aggregate",
            "find", "explain", "serverStatus", "currentOp"} <= names  # fmt: skip


async def test_a_million_document_pipeline_reads_only_the_cap(session: Session, shop: str) -> None:
    """$unwind over FANOUT documents of FANOUT items would return a million documents.
    FerretDB unwinds them all before the cap's $limit (MongoDB streams), hence a patient
    role."""
    async with session("patient") as (client, _):
        tracemalloc.start()
        try:
            text, error = await call_text(
                client,
                "aggregate",
                {
                    "database": shop,
                    "collection": "fanout",
                    "pipeline": [{"$unwind": "$items"}],
                    "limit": 1000,
                },
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert not error, text
    assert FANOUT * FANOUT == 1_000_000
    assert "more documents match: showing 1000" in text
    cut = parse_cut(text)
    assert cut is not None and (cut.shown, cut.total, cut.limit) == (50, 1000, 50)
    assert len(text.encode()) <= 24_000
    assert peak < 40 * 2**20, f"peak Python memory {peak / 2**20:.1f} MiB"


async def test_max_time_exceeded_says_so(
    session: Session, shop: str, ferretdb: FerretHandle
) -> None:
    async with session("fast") as (client, _):
        started = time.monotonic()
        text, error = await call_text(
            client,
            "aggregate",
            {
                "database": shop,
                "collection": "fanout",
                "pipeline": [
                    {"$unwind": "$items"},
                    {"$group": {"_id": "$items", "n": {"$sum": 1}}},
                ],
            },
        )
        elapsed = time.monotonic() - started
    assert error
    address = ferretdb.url.split("//", 1)[1].rstrip("/")
    assert f"MongoDB at {address} stopped aggregate at your role's time limit (maxTimeMS)" in text
    assert "exceeded time limit" in text
    assert elapsed < 5


async def test_catastrophic_regex_is_bounded_by_the_time_limit(session: Session, shop: str) -> None:
    """`^(a+)+$` against `aaa…ab` backtracks exponentially in a backtracking engine; whatever
    the engine, the call ends within the role's limit: an answer, or the time-limit error."""
    async with session("fast") as (client, _):
        started = time.monotonic()
        text, error = await call_text(
            client,
            "count",
            {"database": shop, "collection": "events", "filter": {"s": {"$regex": "^(a+)+$"}}},
        )
        elapsed = time.monotonic() - started
    assert elapsed < 10, "bounded by the role's timeout"
    if error:
        assert "time limit (maxTimeMS)" in text
    else:
        assert text.endswith(f"documents match in {shop}.events")


async def test_mongodb_down_is_named_with_what_to_check(session: Session) -> None:
    port = free_port()
    async with session("viewer", f"mongodb://reader:s3cret-pw@127.0.0.1:{port}/") as (client, _):
        started = time.monotonic()
        text, error = await call_text(client, "server_status", {})
        elapsed = time.monotonic() - started
    assert error
    assert text.startswith(f"MongoDB at 127.0.0.1:{port}: unreachable")
    assert "Check: that MongoDB is running and --uri-file (or MONGODB_URL) points at it" in text
    assert "s3cret-pw" not in text and "reader:" not in text
    assert elapsed < 10


async def test_refused_credentials_are_named_without_them(
    session: Session, ferretdb: FerretHandle
) -> None:
    address = ferretdb.url.split("//", 1)[1].rstrip("/")
    url = f"mongodb://reader:s3cret-pw@{address}/?authSource=admin"
    async with session("viewer", url) as (client, _):
        text, error = await call_text(client, "list_databases", {})
    assert error
    assert text.startswith(f"MongoDB at {address}: refused our credentials")
    assert "mongo-roles" in text
    assert "s3cret-pw" not in text


async def test_readiness_check_reaches_mongodb(ferretdb: FerretHandle) -> None:
    backend = MongoBackend(ferretdb.url)
    await backend.check_ready()
    await backend.aclose()
    down = MongoBackend(f"mongodb://127.0.0.1:{free_port()}/", connect_timeout_seconds=1)
    with pytest.raises(BackendUnavailable, match=r"^MongoDB at 127\.0\.0\.1:\d+: unreachable"):
        await down.check_ready()
    await down.aclose()
