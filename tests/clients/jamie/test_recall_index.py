"""Recall's in-process index on the real FerretDB (no ``$vectorSearch``): the same answers as
an exact cosine over the stored exchanges, kept in step with another replica's writes and
deletes through the version document and the feed (never by reading every message again),
retention, person isolation, and its memory bound."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from autodevops.clients.jamie import memory as memory_module
from autodevops.clients.jamie.memory import ConversationMemory, MemorySettings, similarity
from devstack.ferretdb import FerretHandle
from tests.clients.jamie.conftest import EMBED_MODEL, Opener
from tests.clients.jamie.test_memory import Commands, embeds
from tests.fakes.fake_ollama import (
    FakeOllama,
    fake_ollama_server,  # noqa: F401 (registers the fake_ollama fixture)
)

DIMENSIONS = 16


def unit_noise(rng: random.Random) -> list[float]:
    return [rng.gauss(0, 1) for _ in range(DIMENSIONS)]


@pytest.fixture
async def mongo(ferretdb: FerretHandle, database: str) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ferretdb.url, tz_aware=True)
    yield client[database]
    await client.close()


async def stored(
    mongo: Any, user: str, count: int, rng: random.Random, model: str = EMBED_MODEL
) -> list[dict[str, Any]]:
    """`count` exchanges written as Jamie stores them, one conversation, a second apart."""
    conversation = ObjectId()
    start = datetime.now(UTC) - timedelta(days=1)
    replies = []
    for i in range(count):
        common = {"user": user, "conversation_id": conversation}
        common["created_at"] = start + timedelta(seconds=i)
        replies.append(
            {
                **common,
                "seq": 2 * i + 1,
                "role": "assistant",
                "question": f"question {i} of {user}",
                "content": f"answer {i} err-{i:04d}",
                "embedding": unit_noise(rng),
                "embedding_model": model,
            }
        )
    await mongo["messages"].insert_many(replies)
    return replies


def exact_top(replies: list[dict[str, Any]], query: list[float], k: int) -> list[str]:
    ranked = sorted(
        replies,
        key=lambda doc: (similarity(query, doc["embedding"]), doc["created_at"]),
        reverse=True,
    )
    return [str(doc["_id"]) for doc in ranked[:k]]


async def recall(
    fake: FakeOllama, memory: ConversationMemory, user: str, query: str, vector: list[float], k: int
) -> list[str]:
    embeds(fake, query, vector)
    found = await memory.recall(user, query, k=k)
    assert found.mode == "exact_cosine", found
    return [hit.exchange_id for hit in found.hits]


async def test_the_index_ranks_like_an_exact_cosine_over_every_stored_exchange(
    open_: Opener, fake_ollama: FakeOllama, mongo: Any
) -> None:
    rng = random.Random(7)
    replies = await stored(mongo, "ana", 400, rng)
    others = await stored(mongo, "ben", 50, rng)
    commands = Commands()
    memory = await open_(fake_ollama.url, event_listeners=[commands])
    for _ in range(5):
        query = unit_noise(rng)
        assert await recall(fake_ollama, memory, "ana", "where", query, 8) == exact_top(
            replies, query, 8
        )
    finds = [c for c in commands.named("find") if c["find"] == "messages"]
    assert len(finds) == 1, "one load, then the index answers"
    assert finds[0]["filter"] == {"user": "ana", "role": "assistant"}

    query = unit_noise(rng)
    assert await recall(fake_ollama, memory, "ben", "where", query, 3) == exact_top(
        others, query, 3
    ), "each person has an index of their own"

    # Exact text from the index: the term's exchange first, its similarity still computed.
    embeds(fake_ollama, "what was err-0123", replies[123]["embedding"])
    by_text = await memory.recall("ana", "what was err-0123", k=1)
    assert by_text.terms == ("err-0123",)
    assert by_text.hits[0].exchange_id == str(replies[123]["_id"])
    assert by_text.hits[0].similarity == pytest.approx(1.0, abs=1e-6)
    assert by_text.hits[0].score == pytest.approx(2.0, abs=1e-6)


async def test_another_replicas_adds_and_deletes_arrive_without_reading_the_messages(
    open_: Opener, fake_ollama: FakeOllama, mongo: Any
) -> None:
    rng = random.Random(11)
    replies = await stored(mongo, "ana", 30, rng)
    writer = await open_(fake_ollama.url)
    commands = Commands()
    reader = await open_(fake_ollama.url, event_listeners=[commands])
    query = unit_noise(rng)
    assert await recall(fake_ollama, reader, "ana", "q", query, 3) == exact_top(replies, query, 3)
    loads = len(commands.named("find"))

    conversation = await writer.create_conversation("ana")
    embeds(fake_ollama, "new question\n\nnew answer", query)
    added = await writer.add_exchange("ana", conversation.id, "new question", "new answer")
    assert await recall(fake_ollama, reader, "ana", "q", query, 1) == [added.id]

    await writer.delete("ana", conversation.id)
    assert await recall(fake_ollama, reader, "ana", "q", query, 3) == exact_top(replies, query, 3)

    read = [c["find"] for c in commands.named("find")[loads:]]
    assert "messages" not in read, read
    assert set(read) == {"recall_versions", "recall_feed"}

    # The feed let it go: the exchange is read from the messages, by its id.
    embeds(fake_ollama, "later question\n\nlater answer", query)
    later = await writer.add_exchange(
        "ana", (await writer.create_conversation("ana")).id, "later question", "later answer"
    )
    await mongo["recall_feed"].delete_many({})
    assert await recall(fake_ollama, reader, "ana", "q", query, 1) == [later.id]


async def test_a_replica_too_far_behind_loads_the_person_again(
    open_: Opener, fake_ollama: FakeOllama, mongo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory_module, "RECENT_CHANGES", 2)
    rng = random.Random(3)
    await stored(mongo, "ana", 5, rng)
    writer = await open_(fake_ollama.url)
    reader = await open_(fake_ollama.url)
    query = unit_noise(rng)
    await recall(fake_ollama, reader, "ana", "q", query, 1)
    conversation = await writer.create_conversation("ana")
    ids = []
    for i in range(3):
        embeds(fake_ollama, f"q{i}\n\na{i}", [x * (i + 1) for x in query])
        ids.append((await writer.add_exchange("ana", conversation.id, f"q{i}", f"a{i}")).id)
    assert sorted(await recall(fake_ollama, reader, "ana", "q", query, 3)) == sorted(ids)


async def test_exchanges_past_retention_leave_the_index(
    open_: Opener, fake_ollama: FakeOllama, mongo: Any
) -> None:
    rng = random.Random(5)
    replies = await stored(mongo, "ana", 10, rng)
    now = [datetime.now(UTC)]
    settings = MemorySettings(embed_model=EMBED_MODEL, retention_days=2)
    memory = await open_(fake_ollama.url, settings=settings, clock=lambda: now[0])
    query = unit_noise(rng)
    assert len(await recall(fake_ollama, memory, "ana", "q", query, 20)) == 10
    conversation = await memory.create_conversation("ana")
    embeds(fake_ollama, "fresh\n\nanswer", query)
    fresh = await memory.add_exchange("ana", conversation.id, "fresh", "answer")
    now[0] += timedelta(days=1, hours=12)  # the stored ones are now 2.5 days old
    assert await recall(fake_ollama, memory, "ana", "q", query, 20) == [fresh.id]
    assert len(replies) == 10


async def test_memory_stays_within_its_budget_by_evicting_the_least_recent_person(
    open_: Opener, fake_ollama: FakeOllama, mongo: Any
) -> None:
    rng = random.Random(9)
    people = {user: await stored(mongo, user, 800, rng) for user in ("ana", "ben", "cy")}
    settings = MemorySettings(embed_model=EMBED_MODEL, index_megabytes=1)
    commands = Commands()
    memory = await open_(fake_ollama.url, settings=settings, event_listeners=[commands])
    query = unit_noise(rng)
    for user, replies in [*people.items(), ("ana", people["ana"])]:
        assert await recall(fake_ollama, memory, user, "q", query, 4) == exact_top(
            replies, query, 4
        )
        assert 0 < memory.index_bytes() <= 1 << 20, memory.index_bytes()
    loads = [c["filter"]["user"] for c in commands.named("find") if c["find"] == "messages"]
    assert loads == ["ana", "ben", "cy", "ana"], "ana was evicted for cy, then loaded again"
