"""Arguments the MongoDB tools share, and reading a cursor into bounded JSON lines."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from pymongo.asynchronous.command_cursor import AsyncCommandCursor
from pymongo.asynchronous.cursor import AsyncCursor

from autodevops.servers.core.args import Args
from autodevops.servers.core.output import Lines

from ..client import ScopedMongo
from ..documents import line

Database = Annotated[str, Field(min_length=1, max_length=64, description="database name")]
Collection = Annotated[str, Field(min_length=1, max_length=255, description="collection name")]
Filter = Annotated[
    dict[str, Any],
    Field(description='query filter, Extended JSON: {"status": "failed", "at": {"$gte": '
                      '{"$date": "2026-01-01T00:00:00Z"}}}'),
]  # fmt: skip
MAX_DOCUMENTS = 1000
# What one call reads into memory at most, whatever the role's byte limit.
MAX_READ_BYTES = 4_000_000
NARROW = "Narrow the filter, add a projection, or lower limit."


class CollectionArgs(Args):
    database: Database
    collection: Collection


async def read_documents(
    mongo: ScopedMongo,
    what: str,
    cursor: AsyncCursor[Any] | AsyncCommandCursor[Any],
    limit: int,
    skip: int = 0,
) -> Lines:
    """At most `limit` documents as lines; the cursor was opened for limit + 1, so one more
    says that more match. Reading stops at MAX_READ_BYTES too."""
    lines: list[str] = []
    size = 0
    more = False
    async with mongo.backend.errors(what):
        try:
            async for document in cursor:
                if len(lines) == limit or size > MAX_READ_BYTES:
                    more = True
                    break
                text = line(document)
                lines.append(text)
                size += len(text)
        finally:
            await cursor.close()
    notes = []
    if more:
        notes.append(
            f"more documents match: showing {len(lines)} (skip {skip}); ask with "
            f"skip={skip + len(lines)} for the next ones, or narrow the filter"
        )
    return Lines(lines, narrow=NARROW, notes=notes)
