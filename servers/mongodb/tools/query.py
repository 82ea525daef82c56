"""Reading documents: find, count, aggregate (read-only stages) and explain."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from autodevops.servers.core.output import Lines, Output, Text
from autodevops.servers.core.spec import tool

from ..client import ScopedMongo
from ..explain import summarize
from .args import MAX_DOCUMENTS, CollectionArgs, Filter, read_documents

Projection = dict[str, Any]
Sort = dict[str, Any]


class FindArgs(CollectionArgs):
    filter: Filter = Field(default_factory=dict)
    projection: Projection | None = Field(None, description='fields to return: {"name": 1}')
    sort: Sort | None = Field(None, description='{"field": -1} newest first')
    limit: int = Field(20, ge=1, le=MAX_DOCUMENTS)
    skip: int = Field(0, ge=0, le=10_000_000)


class CountArgs(CollectionArgs):
    filter: Filter = Field(default_factory=dict)
    limit: int | None = Field(None, ge=1, description="stop counting at this many")


class AggregateArgs(CollectionArgs):
    pipeline: list[dict[str, Any]] = Field(max_length=100, description="read-only stages")
    limit: int = Field(20, ge=1, le=MAX_DOCUMENTS, description="documents returned at most")


class ExplainArgs(CollectionArgs):
    filter: Filter | None = None
    projection: Projection | None = None
    sort: Sort | None = None
    pipeline: list[dict[str, Any]] | None = Field(
        None, max_length=100, description="explain this aggregation instead of a find"
    )
    verbosity: Literal["queryPlanner", "executionStats"] = Field(
        "queryPlanner", description="executionStats runs the query (within the time limit)"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> ExplainArgs:
        if self.pipeline is not None and (self.filter or self.projection or self.sort):
            raise ValueError("give a pipeline, or filter/projection/sort, not both")
        return self


@tool()
async def find(args: FindArgs, mongo: ScopedMongo) -> Output:
    """Documents of a collection matching a filter (Extended JSON), one JSON line each; with
    projection, sort, limit and skip. Secret-looking fields are redacted."""
    collection = mongo.collection(args.database, args.collection)
    sort = mongo.value(args.sort, "sort")
    cursor = collection.find(
        mongo.value(args.filter, "filter"),
        mongo.value(args.projection, "projection"),
        skip=args.skip,
        limit=args.limit + 1,
        sort=list(sort.items()) if sort else None,
        max_time_ms=mongo.max_time_ms,
        batch_size=min(args.limit + 1, 101),
    )
    return await read_documents(mongo, "find", cursor, args.limit, args.skip)


@tool()
async def count(args: CountArgs, mongo: ScopedMongo) -> Output:
    """How many documents of a collection match a filter (Extended JSON)."""
    collection = mongo.collection(args.database, args.collection)
    options: dict[str, Any] = {"maxTimeMS": mongo.max_time_ms}
    if args.limit:
        options["limit"] = args.limit
    total = await mongo.run(
        "count", collection.count_documents(mongo.value(args.filter, "filter"), **options)
    )
    capped = " (stopped at limit)" if args.limit and total >= args.limit else ""
    return Text(f"{total} documents match in {args.database}.{args.collection}{capped}")


@tool()
async def aggregate(args: AggregateArgs, mongo: ScopedMongo) -> Output:
    """Run an aggregation pipeline of read-only stages ($match, $group, $sort, $project,
    $unwind, $facet, $lookup within your scope, ...); JSON lines. $out, $merge and JavaScript
    ($where, $function, $accumulator) are refused at any depth."""
    collection = mongo.collection(args.database, args.collection)
    pipeline = [*mongo.pipeline(args.pipeline, args.database), {"$limit": args.limit + 1}]
    async with mongo.backend.errors("aggregate", "pipeline"):
        cursor = await collection.aggregate(
            pipeline,
            maxTimeMS=mongo.max_time_ms,
            batchSize=min(args.limit + 1, 101),
            allowDiskUse=False,
        )
    output: Lines = await read_documents(mongo, "aggregate", cursor, args.limit)
    return output


@tool()
async def explain(args: ExplainArgs, mongo: ScopedMongo) -> Output:
    """How MongoDB runs a find or an aggregation: the winning plan (index or collection
    scan), documents and keys examined, time. Use it when a query is slow."""
    collection = mongo.collection(args.database, args.collection)
    command: dict[str, Any]
    if args.pipeline is not None:
        pipeline = mongo.pipeline(args.pipeline, args.database)
        command = {"aggregate": collection.name, "pipeline": pipeline, "cursor": {}}
    else:
        command = {"find": collection.name, "filter": mongo.value(args.filter or {}, "filter")}
        if args.projection:
            command["projection"] = mongo.value(args.projection, "projection")
        if args.sort:
            command["sort"] = mongo.value(args.sort, "sort")
    command["maxTimeMS"] = mongo.max_time_ms
    result = await mongo.command(
        args.database,
        "explain",
        {"explain": command, "verbosity": args.verbosity},
        "pipeline" if args.pipeline is not None else "filter",
    )
    return Text("\n".join(summarize(result)))
