"""The MongoDB server against the stack's FerretDB: one seeded database per session, the
shipped policy plus roles made for the tests, and real MCP sessions built as `serve` builds
them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from bson import ObjectId
from bson.int64 import Int64
from fastmcp import Client
from pymongo import MongoClient

from autodevops.servers.mongodb.client import MongoBackend
from autodevops.servers.mongodb.server import SPEC
from devstack.ferretdb import FerretHandle
from tests.mcp_helpers import server_session

ORDERS = 30
EVENTS = 20_000
FANOUT = 1000  # documents of `fanout`, each with FANOUT items: $unwind makes a million
FIRST_ORDER = ObjectId("65f000000000000000000001")
JAMIE_MARK = "mongodb-server-test"
Session = Callable[..., AbstractAsyncContextManager[tuple[Client[Any], Path]]]


def shipped_policy() -> dict[str, Any]:
    text = resources.files("autodevops.policies").joinpath("mongodb.yaml").read_text()
    policy: dict[str, Any] = yaml.safe_load(text)
    return policy


@pytest.fixture(scope="session")
def shop(ferretdb: FerretHandle) -> Iterator[str]:
    """A database of orders, customers, events and a fan-out collection; Jamie's memory
    collections get a few marked documents. (FerretDB has no Decimal128: it drops the
    connection, so decimals are tested without it.)"""
    name = f"shop_{uuid.uuid4().hex[:8]}"
    client: MongoClient[dict[str, Any]] = MongoClient(ferretdb.url, tz_aware=True)
    db = client[name]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    db.orders.insert_many(
        [
            {
                "_id": FIRST_ORDER if i == 0 else ObjectId(),
                "n": i,
                "status": "failed" if i % 3 == 0 else "paid",
                "total": Int64(i * 100),
                "at": start + timedelta(hours=i),
                "customer": {"name": f"c{i}", "email": f"c{i}@example.com"},
                "api_key": f"sk-live-{i:04d}-secret",
                "note": "password=hunter2" if i == 1 else "ok",
                "tags": ["a", "b"] if i % 2 else [],
            }
            for i in range(ORDERS)
        ]
    )
    db.orders.create_index("status")
    db.customers.insert_one({"name": "c1", "credentials": {"user": "c1", "pass": "x"}})
    db.events.insert_many(
        [{"i": i, "s": "a" * 28 + ("b" if i % 2 else "a")} for i in range(EVENTS)]
    )
    db.fanout.insert_many([{"k": i, "items": list(range(FANOUT))} for i in range(FANOUT)])
    jamie = client["jamie"]
    for collection in ("conversations", "messages"):
        jamie[collection].insert_one({"user": "alice", "content": "hello", "mark": JAMIE_MARK})
    yield name
    client.drop_database(name)
    for collection in ("conversations", "messages"):
        jamie[collection].delete_many({"mark": JAMIE_MARK})
    client.close()


@pytest.fixture(scope="session")
def policy(shop: str) -> dict[str, Any]:
    """The shipped roles (viewer, admin) and roles for the tests."""
    base = shipped_policy()
    viewer = base["roles"]["viewer"]
    base["roles"].update(
        {
            "team": {
                "tools": viewer["tools"],
                "scope": {
                    "databases": {"allow": [shop]},
                    "collections": {"allow": [f"{shop}.orders", f"{shop}.customers"]},
                },
            },
            "tight": {
                "tools": ["find", "aggregate"],
                "limits": {"max_items": 5, "max_bytes": 1500},
            },
            "patient": {
                "tools": ["aggregate"],
                "scope": {"max_time_ms": 120_000},
                "limits": {"timeout_seconds": 150, "max_items": 50},
            },
            "fast": {
                "tools": ["find", "count", "aggregate"],
                "scope": {"max_time_ms": 100},
                "limits": {"timeout_seconds": 10},
            },
            "killer": {"tools": ["kill_op", "current_ops"], "scope": {"kill_ops_of": ["report-*"]}},
        }
    )
    return base


@pytest.fixture
def session(ferretdb: FerretHandle, policy: dict[str, Any], tmp_path: Path) -> Session:
    """`session(role)` opens a real MCP client session on a server for that role."""

    def open_session(
        role: str, url: str | None = None
    ) -> AbstractAsyncContextManager[tuple[Client[Any], Path]]:
        backend = MongoBackend(url or ferretdb.url, connect_timeout_seconds=2)
        return server_session(SPEC, backend, policy, role, tmp_path)

    return open_session


@pytest.fixture
async def viewer(session: Session) -> AsyncIterator[Client[Any]]:
    async with session("viewer") as (client, _):
        yield client
