"""What is there: databases, collections with their sizes, indexes with their usage, and the
shape of a collection's documents."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pydantic import Field
from pymongo.asynchronous.command_cursor import AsyncCommandCursor
from pymongo.asynchronous.cursor import AsyncCursor

from autodevops.servers.core.args import Args, NoArgs
from autodevops.servers.core.output import Output, Table
from autodevops.servers.core.spec import tool

from .. import schema as shapes
from ..client import ScopedMongo, Unsupported
from .args import CollectionArgs, Database

# Collections whose statistics are read in one call (one command each, a few at a time).
MAX_STATS = 100
_PARALLEL = 8


class DatabaseArgs(Args):
    database: Database


class SchemaArgs(CollectionArgs):
    sample_size: int = Field(100, ge=1, le=1000, description="documents sampled")


@tool()
async def list_databases(args: NoArgs, mongo: ScopedMongo) -> Output:
    """Databases you may read, with their size on disk."""
    answer = await mongo.admin("listDatabases", {"listDatabases": 1, "authorizedDatabases": True})
    rows = [
        [db["name"], _bytes(db.get("sizeOnDisk")), "yes" if db.get("empty") else ""]
        for db in sorted(answer.get("databases", []), key=lambda d: str(d.get("name")))
        if mongo.scope.visible_database(str(db.get("name", "")))
    ]
    return Table(["DATABASE", "SIZE", "EMPTY"], rows, narrow="")


@tool()
async def list_collections(args: DatabaseArgs, mongo: ScopedMongo) -> Output:
    """Collections and views of a database you may read: documents, data size, storage size
    and number of indexes."""
    database = mongo.database(args.database)
    cursor = await mongo.run(
        "listCollections",
        database.list_collections(maxTimeMS=mongo.max_time_ms),
    )
    async with mongo.backend.errors("listCollections"):
        found = await cursor.to_list(None)
    names = sorted(
        (str(c["name"]), str(c.get("type", "collection")))
        for c in found
        if mongo.scope.visible_collection(args.database, str(c["name"]))
    )
    limit = asyncio.Semaphore(_PARALLEL)

    async def stats(name: str, kind: str) -> list[str]:
        if kind != "collection":
            return [name, kind, "", "", "", ""]
        async with limit:
            s = await _stats(mongo, args.database, name)
        return [
            name,
            kind,
            str(s.get("count", "")),
            _bytes(s.get("size")),
            _bytes(s.get("storageSize")),
            str(s.get("nindexes", "")),
        ]

    rows = await asyncio.gather(*(stats(n, k) for n, k in names[:MAX_STATS]))
    rows += [[name, kind, "", "", "", ""] for name, kind in names[MAX_STATS:]]
    notes = [f"statistics shown for the first {MAX_STATS} collections"] * (len(names) > MAX_STATS)
    return Table(
        ["COLLECTION", "TYPE", "DOCUMENTS", "SIZE", "STORAGE", "INDEXES"],
        rows,
        narrow="",
        notes=notes,
    )


@tool()
async def indexes(args: CollectionArgs, mongo: ScopedMongo) -> Output:
    """Indexes of a collection: keys, options (unique, TTL, partial), size and, where the
    server reports it, how often each was used since when."""
    collection = mongo.collection(args.database, args.collection)
    answer = await mongo.command(
        args.database, "listIndexes", {"listIndexes": collection.name, "cursor": {}}
    )
    found = answer.get("cursor", {}).get("firstBatch", [])
    sizes = (await _stats(mongo, args.database, args.collection)).get("indexSizes", {})
    notes: list[str] = []
    usage: dict[str, str] = {}
    try:
        stats = await mongo.run(
            "$indexStats",
            collection.aggregate([{"$indexStats": {}}], maxTimeMS=mongo.max_time_ms),
        )
        async with mongo.backend.errors("$indexStats"):
            for item in await stats.to_list(None):
                access = item.get("accesses", {})
                since = access.get("since")
                usage[item["name"]] = (
                    f"{access.get('ops', 0)} since {since:%Y-%m-%d %H:%M}" if since else ""
                )
    except Unsupported as exc:
        notes.append(f"usage: not reported ({exc.message})")
    rows = [
        [
            index["name"],
            ", ".join(f"{k}: {v}" for k, v in index.get("key", {}).items()),
            _options(index),
            _bytes(sizes.get(index["name"])),
            usage.get(index["name"], ""),
        ]
        for index in found
    ]
    return Table(["INDEX", "KEYS", "OPTIONS", "SIZE", "USED"], rows, narrow="", notes=notes)


@tool()
async def schema(args: SchemaArgs, mongo: ScopedMongo) -> Output:
    """The fields of a collection inferred from a sample: each field path, types seen, how
    often present, a short example (secret-looking values redacted)."""
    collection = mongo.collection(args.database, args.collection)
    notes = []
    cursor: AsyncCursor[Any] | AsyncCommandCursor[Any]
    try:
        cursor = await mongo.run(
            "$sample",
            collection.aggregate(
                [{"$sample": {"size": args.sample_size}}], maxTimeMS=mongo.max_time_ms
            ),
        )
        how = "a random sample"
    except Unsupported as exc:
        cursor = collection.find({}, limit=args.sample_size, max_time_ms=mongo.max_time_ms)
        how = "the first documents"
        notes.append(f"$sample is not available here ({exc.message}); read {how} instead")
    async with mongo.backend.errors("schema sample"):
        documents = await cursor.to_list(None)
    seen, fields = shapes.infer(documents)
    notes.insert(0, f"{seen} documents read ({how}); PRESENT is the share holding the field")
    return Table(
        ["FIELD", "TYPES", "PRESENT", "EXAMPLE"],
        shapes.rows(seen, fields),
        narrow="Lower sample_size; nested fields are listed as a.b, array items as a[].b.",
        notes=notes,
    )


async def _stats(mongo: ScopedMongo, database: str, collection: str) -> dict[str, Any]:
    """collStats of one collection; {} where the server has none."""
    try:
        result: dict[str, Any] = await mongo.command(
            database, "collStats", {"collStats": collection}
        )
    except Unsupported:
        return {}
    return result


def _options(index: Mapping[str, Any]) -> str:
    options = [name for name in ("unique", "sparse", "hidden") if index.get(name)]
    if "expireAfterSeconds" in index:
        options.append(f"ttl {index['expireAfterSeconds']}s")
    if "partialFilterExpression" in index:
        options.append("partial")
    return ", ".join(options)


def _bytes(value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""
