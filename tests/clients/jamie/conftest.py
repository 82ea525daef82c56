"""Jamie's memory tests share a private FerretDB database per test and an opener of memories."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from ollama import AsyncClient
from pymongo import AsyncMongoClient

from autodevops.clients.jamie.memory import ConversationMemory, MemorySettings, open_memory
from devstack.ferretdb import FerretHandle

EMBED_MODEL = "fake-embed"
SETTINGS = MemorySettings(embed_model=EMBED_MODEL, timeout_seconds=10)

Opener = Callable[..., Awaitable[ConversationMemory]]


@pytest.fixture
async def database(ferretdb: FerretHandle) -> AsyncIterator[str]:
    name = f"jamie_{uuid.uuid4().hex[:12]}"
    yield name
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ferretdb.url)
    await client.drop_database(name)
    await client.close()


@pytest.fixture
async def open_(ferretdb: FerretHandle, database: str) -> AsyncIterator[Opener]:
    """Opens memories on this test's database; closes them at the end."""
    opened: list[ConversationMemory] = []

    async def opener(ollama_url: str, **options: Any) -> ConversationMemory:
        settings = options.pop("settings", SETTINGS)
        memory = await open_memory(
            ferretdb.url, database, AsyncClient(host=ollama_url), settings, **options
        )
        opened.append(memory)
        return memory

    yield opener
    for memory in opened:
        await memory.close()
