"""Every MongoDB tool through a real MCP client against the stack's FerretDB."""

from __future__ import annotations

import json
from typing import Any

from fastmcp import Client

from autodevops.servers.core.output import parse_cut, parse_table
from tests.mcp_helpers import call_text
from tests.servers.mongodb.conftest import FIRST_ORDER, ORDERS, Session

READ_TOOLS = {
    "list_databases",
    "list_collections",
    "indexes",
    "schema",
    "find",
    "count",
    "aggregate",
    "explain",
    "server_status",
    "current_ops",
}


def documents(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a result, before its notes."""
    return [json.loads(line) for line in text.split("\n\n")[0].splitlines() if line != "(none)"]


async def test_catalogue_is_read_only_but_kill_op(session: Session) -> None:
    async with session("killer") as (client, _):
        killer = {t.name: t for t in await client.list_tools()}
    assert set(killer) == {"kill_op", "current_ops"}
    hints = killer["kill_op"].annotations
    assert hints is not None and hints.read_only_hint is False and hints.destructive_hint is True
    async with session("viewer") as (client, _):
        tools = await client.list_tools()
    assert {t.name for t in tools} == READ_TOOLS
    for t in tools:
        assert t.annotations is not None and t.annotations.read_only_hint is True
        assert t.annotations.destructive_hint is False
        assert t.description is not None and len(t.description) <= 600


async def test_list_databases_hides_mongodb_own(viewer: Client[Any], shop: str) -> None:
    text, error = await call_text(viewer, "list_databases", {})
    assert not error, text
    names = [row[0] for row in parse_table(text).rows]
    assert shop in names and "jamie" in names
    assert not {"admin", "config", "local"} & set(names)


async def test_list_collections_counts_documents_and_indexes(
    viewer: Client[Any], shop: str
) -> None:
    text, error = await call_text(viewer, "list_collections", {"database": shop})
    assert not error, text
    table = {r["COLLECTION"]: r for r in parse_table(text).records()}
    assert set(table) == {"orders", "customers", "events", "fanout"}
    assert table["orders"]["DOCUMENTS"] == str(ORDERS)
    assert table["orders"]["INDEXES"] == "2"
    assert table["orders"]["SIZE"].endswith("KiB")


async def test_indexes_say_usage_is_not_reported_by_ferretdb(
    viewer: Client[Any], shop: str
) -> None:
    text, error = await call_text(viewer, "indexes", {"database": shop, "collection": "orders"})
    assert not error, text
    table = parse_table(text)
    assert [r["INDEX"] for r in table.records()] == ["_id_", "status_1"]
    assert table.records()[1]["KEYS"] == "status: 1"
    assert any(
        "usage: not reported" in note and "$indexStats" in note and "does not implement" in note
        for note in table.notes
    ), table.notes


async def test_schema_infers_fields_and_redacts_examples(viewer: Client[Any], shop: str) -> None:
    text, error = await call_text(
        viewer, "schema", {"database": shop, "collection": "orders", "sample_size": 10}
    )
    assert not error, text
    table = parse_table(text)
    fields = {r["FIELD"]: r for r in table.records()}
    assert fields["total"]["TYPES"] == "long"
    assert fields["at"]["TYPES"] == "date"
    assert fields["customer.email"]["PRESENT"] == "100%"
    assert fields["tags"]["TYPES"].startswith("array")
    assert fields["api_key"]["EXAMPLE"] == "[REDACTED]"
    assert "sk-live" not in text
    assert any("$sample is not available here" in note for note in table.notes)
    assert any(note.startswith("10 documents read") for note in table.notes)


async def test_find_shows_extended_json_readably_and_redacts(
    viewer: Client[Any], shop: str
) -> None:
    text, error = await call_text(
        viewer,
        "find",
        {
            "database": shop,
            "collection": "orders",
            "filter": {"at": {"$lt": {"$date": "2026-01-01T02:30:00Z"}}},
            "sort": {"n": 1},
        },
    )
    assert not error, text
    found = documents(text)
    assert [d["n"] for d in found] == [0, 1, 2]
    first = found[0]
    assert first["_id"] == {"$oid": str(FIRST_ORDER)}
    assert first["at"] == {"$date": "2026-01-01T00:00:00Z"}
    assert found[2]["total"] == 200
    assert first["api_key"] == "[REDACTED]"
    assert found[1]["note"] == "password=[REDACTED]"
    assert "hunter2" not in text and "sk-live" not in text
    # What a result shows can be pasted back into a filter.
    again, _ = await call_text(
        viewer, "find", {"database": shop, "collection": "orders", "filter": {"_id": first["_id"]}}
    )
    assert [d["n"] for d in documents(again)] == [0]


async def test_find_projection_skip_and_more_notice(viewer: Client[Any], shop: str) -> None:
    text, _ = await call_text(
        viewer,
        "find",
        {
            "database": shop,
            "collection": "orders",
            "projection": {"n": 1, "_id": 0},
            "sort": {"n": -1},
            "limit": 4,
            "skip": 2,
        },
    )
    assert documents(text) == [{"n": 27}, {"n": 26}, {"n": 25}, {"n": 24}]
    assert "more documents match: showing 4 (skip 2); ask with skip=6" in text


async def test_role_caps_cut_the_answer_and_say_so(session: Session, shop: str) -> None:
    async with session("tight") as (client, _):
        text, error = await call_text(
            client, "find", {"database": shop, "collection": "orders", "limit": 20}
        )
    assert not error
    cut = parse_cut(text)
    assert cut is not None
    assert len(text.encode()) <= 1500
    assert len(documents(text.rsplit("\n[cut:", 1)[0])) <= 5


async def test_count(viewer: Client[Any], shop: str) -> None:
    text, error = await call_text(
        viewer, "count", {"database": shop, "collection": "orders", "filter": {"status": "failed"}}
    )
    assert not error and text == f"10 documents match in {shop}.orders"
    text, _ = await call_text(
        viewer, "count", {"database": shop, "collection": "orders", "limit": 7}
    )
    assert text.startswith("7 documents match") and "stopped at limit" in text


async def test_aggregate_groups(viewer: Client[Any], shop: str) -> None:
    text, error = await call_text(
        viewer,
        "aggregate",
        {
            "database": shop,
            "collection": "orders",
            "pipeline": [
                {"$group": {"_id": "$status", "orders": {"$sum": 1}}},
                {"$sort": {"_id": 1}},
            ],
        },
    )
    assert not error, text
    assert documents(text) == [{"_id": "failed", "orders": 10}, {"_id": "paid", "orders": 20}]


async def test_what_ferretdb_lacks_is_named(viewer: Client[Any], shop: str) -> None:
    for stage in (
        {"$facet": {"n": [{"$count": "n"}]}},
        {"$lookup": {"from": "customers", "localField": "n", "foreignField": "n", "as": "c"}},
        {"$vectorSearch": {"index": "v", "path": "e", "queryVector": [1.0], "limit": 1}},
    ):
        text, error = await call_text(
            viewer, "aggregate", {"database": shop, "collection": "orders", "pipeline": [stage]}
        )
        assert error
        assert "does not implement" in text and "MongoDB itself has it" in text, text
        assert next(iter(stage)) in text


async def test_explain_summarizes_the_plan(viewer: Client[Any], shop: str) -> None:
    text, error = await call_text(
        viewer,
        "explain",
        {
            "database": shop,
            "collection": "events",
            "filter": {"i": 5},
            "verbosity": "executionStats",
        },
    )
    assert not error, text
    assert "backend plan:" in text and "SCAN" in text
    assert "hint: a full collection scan" in text
    text, error = await call_text(
        viewer,
        "explain",
        {"database": shop, "collection": "orders", "pipeline": [{"$match": {"n": 1}}]},
    )
    assert not error and "pushed down to the backend: filter" in text


async def test_server_status_says_what_is_not_reported(viewer: Client[Any]) -> None:
    text, error = await call_text(viewer, "server_status", {})
    assert not error, text
    assert text.startswith("server: FerretDB (reports MongoDB 7.0")
    assert "replication: not a replica set member (standalone)" in text
    assert "not reported by this server (FerretDB): connections, opcounters, mem, repl" in text


async def test_current_ops_lists_long_operations(viewer: Client[Any]) -> None:
    text, error = await call_text(viewer, "current_ops", {"min_seconds": 0})
    assert not error, text
    assert parse_table(text).columns == ["OPID", "SECS", "OP", "NS", "USERS", "COMMAND"]


async def test_kill_op_needs_the_tool_and_a_running_op(session: Session) -> None:
    async with session("viewer") as (client, _):
        text, error = await call_text(client, "kill_op", {"opid": 1})
    assert error and "not allowed" in text
    async with session("killer") as (client, _):
        text, error = await call_text(client, "kill_op", {"opid": 424242, "dry_run": True})
    assert error and "no operation 424242 is running" in text
