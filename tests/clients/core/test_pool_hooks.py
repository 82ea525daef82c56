"""Hooks on one MCP pool: Jamie's cache and Scarlet's record of calls together, in both orders,
against a real Prometheus MCP server, Redis and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from redis.asyncio import Redis

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import CallHook, McpPool
from autodevops.clients.jamie.keyvalue import open_redis
from autodevops.clients.jamie.metrics import JamieMetrics
from autodevops.clients.jamie.toolcache import CachingHook, ToolCache
from autodevops.clients.scarlet.recording import RecordingHook, current_run
from autodevops.clients.scarlet.store import OpsStore
from devstack.postgres import PostgresHandle
from devstack.redis import RedisHandle
from devstack.services import audit_lines
from tests.conftest import TOKENS

QUERY = "prom__query"
ARGUMENTS = {"query": "up"}


@pytest.fixture
async def store(postgres: PostgresHandle) -> AsyncIterator[OpsStore]:
    """The operations store on a database of this test's own, dropped afterwards."""
    name = f"scarlet_{secrets.token_hex(6)}"
    async with await psycopg.AsyncConnection.connect(postgres.url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    opened = await OpsStore.open(make_conninfo(postgres.url, dbname=name))
    yield opened
    await opened.close()
    async with await psycopg.AsyncConnection.connect(postgres.url, autocommit=True) as admin:
        await admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
async def client(redis: RedisHandle) -> AsyncIterator[Redis]:
    connection = open_redis(redis.url, timeout_seconds=2)
    yield connection
    await connection.aclose()


@pytest.mark.parametrize(
    ("recording_first", "recorded"),
    [(True, 2), (False, 1)],
    ids=["recording-then-caching", "caching-then-recording"],
)
async def test_cache_and_record_compose_in_the_order_given(
    prometheus: Any,
    start_http_server: Any,
    store: OpsStore,
    client: Redis,
    recording_first: bool,
    recorded: int,
) -> None:
    """The server answers once, the second call comes from Redis; the record holds what
    reached the recording hook: both calls when it runs first, only the miss when the cache
    answers before it."""
    server = start_http_server(prometheus.url)
    scope = (f"hooks-{secrets.token_hex(4)}",)  # an entry of this test's own
    cache = ToolCache(client, ttl_seconds=30)
    metrics = JamieMetrics()
    caching, recording = CachingHook(cache, scope, metrics), RecordingHook(store)
    hooks: list[CallHook] = [recording, caching] if recording_first else [caching, recording]
    run, _ = await store.runs.submit("manual", "are the scrape targets up?")

    endpoint = HttpEndpoint("prom", server.mcp_url, TOKENS["viewer"])
    token = current_run.set(run.id)
    try:
        async with McpPool([endpoint], hooks=hooks) as pool:
            miss = await pool.call(QUERY, ARGUMENTS)
            hit = await pool.call(QUERY, ARGUMENTS)
    finally:
        current_run.reset(token)
        await client.delete(ToolCache.key(QUERY, ARGUMENTS, scope))

    assert miss.outcome == hit.outcome == "ok"
    assert hit.text == miss.text and 'job="prometheus"' in miss.text
    assert [line["tool"] for line in audit_lines(server.audit_log)] == ["query"]
    for result in ("miss", "hit"):
        assert metrics.registry.get_sample_value("jamie_tool_cache_total", {"result": result}) == 1

    detail = await store.runs.detail(run.id)
    assert detail is not None
    calls = detail["tool_calls"]
    assert [(c["tool"], c["arguments"], c["outcome"]) for c in calls] == [
        (QUERY, ARGUMENTS, "ok")
    ] * recorded
    assert {c["result_bytes"] for c in calls} == {len(miss.text.encode("utf-8"))}
    durations = [c["duration_ms"] for c in calls]
    assert durations == [round(r.seconds * 1000, 3) for r in (miss, hit)][:recorded]
