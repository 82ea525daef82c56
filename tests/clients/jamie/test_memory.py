"""Jamie's memory on the real FerretDB of the local stack, with embeddings from the scripted fake
Ollama: FerretDB has no ``$vectorSearch`` and no TTL indexes, so these tests run the fallback
paths for real, and check the ``$vectorSearch`` stage and the TTL index by what goes on the wire.
Every test has its own database."""

from __future__ import annotations

import math
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ollama import AsyncClient
from pymongo import AsyncMongoClient
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from autodevops.clients.jamie.memory import (
    ConversationMemory,
    ConversationNotFound,
    MemorySettings,
    exact_terms,
    open_memory,
    vector_search_pipeline,
)
from autodevops.common.unavailable import BackendUnavailable
from devstack import ferretdb as ferretdb_stack
from devstack.base import free_port
from devstack.ferretdb import FerretHandle
from tests.clients.jamie.conftest import EMBED_MODEL, Opener
from tests.fakes.fake_ollama import (
    FakeOllama,
    fake_ollama_server,  # noqa: F401 (registers the fake_ollama fixture)
)

POD = "web-7bfb4bc78d-6jt7m"
THIRTY_DAYS = 30 * 86_400

# Three past exchanges with unrelated meanings, each given its own direction by the fake.
DISK = (
    "Why are pods on the blue pool being evicted?",
    "The kubelet reports disk pressure: the image cache filled the root volume.",
    [1.0, 0.0, 0.0],
)
CRASH = (
    f"{POD} keeps restarting",
    "It is in CrashLoopBackOff: the container exits with code 137 (OOMKilled); raise its limit.",
    [0.0, 1.0, 0.0],
)
CERT = (
    "When does the ingress certificate expire?",
    "cert-manager renews it on the first of December.",
    [0.0, 0.0, 1.0],
)


class Commands(CommandListener):
    """Records the commands the client sends, as sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: CommandStartedEvent) -> None:
        self.sent.append((event.command_name, dict(event.command)))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass

    def named(self, name: str) -> list[dict[str, Any]]:
        return [command for command_name, command in self.sent if command_name == name]


class Ticking:
    """A clock one second further on at every reading, so orders never depend on speed."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def nowhere() -> str:
    """An Ollama address where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def embeds(fake: FakeOllama, text: str, vector: list[float], model: str = EMBED_MODEL) -> None:
    def check(body: dict[str, Any]) -> None:
        assert body["model"] == model, body
        assert body["input"] == [text], body

    fake.expect_embed([vector], check)


async def remember(
    fake: FakeOllama, memory: ConversationMemory, user: str, conversation_id: str, exchange: Any
) -> str:
    question, answer, vector = exchange
    embeds(fake, f"{question}\n\n{answer}", vector)
    stored = await memory.add_exchange(user, conversation_id, question, answer)
    assert stored.embedded and stored.notice is None
    return stored.id


def expected_similarity(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    cosine = dot / (math.hypot(*a) * math.hypot(*b))
    return (1 + cosine) / 2


async def test_conversations_list_reopen_rename_delete(
    open_: Opener, fake_ollama: FakeOllama
) -> None:
    memory = await open_(fake_ollama.url, clock=Ticking(datetime(2026, 11, 1, tzinfo=UTC)))
    first = await memory.create_conversation("ana", "Evictions")
    second = await memory.create_conversation("ana", "Certificates")
    assert [c.title for c in await memory.list_conversations("ana")] == [
        "Certificates",
        "Evictions",
    ]

    await remember(fake_ollama, memory, "ana", first.id, DISK)
    await remember(fake_ollama, memory, "ana", first.id, CRASH)
    await remember(fake_ollama, memory, "ana", second.id, CERT)
    listed = await memory.list_conversations("ana")
    assert [(c.title, c.message_count) for c in listed] == [("Certificates", 2), ("Evictions", 4)]

    conversation, messages = await memory.reopen("ana", first.id)
    assert conversation.id == first.id
    assert [(m.seq, m.role, m.content) for m in messages] == [
        (0, "user", DISK[0]),
        (1, "assistant", DISK[1]),
        (2, "user", CRASH[0]),
        (3, "assistant", CRASH[1]),
    ]
    _, newest = await memory.reopen("ana", first.id, last=2)
    assert [(m.seq, m.content) for m in newest] == [(2, CRASH[0]), (3, CRASH[1])]

    renamed = await memory.rename("ana", first.id, "  Evictions on   the blue pool ")
    assert renamed.title == "Evictions on the blue pool"
    assert (await memory.reopen("ana", first.id))[0].title == "Evictions on the blue pool"
    with pytest.raises(ValueError, match="empty"):
        await memory.rename("ana", first.id, "   ")

    await memory.delete("ana", first.id)
    assert [c.id for c in await memory.list_conversations("ana")] == [second.id]
    with pytest.raises(ConversationNotFound):
        await memory.reopen("ana", first.id)
    with pytest.raises(ConversationNotFound):
        await memory.delete("ana", first.id)
    with pytest.raises(ConversationNotFound):
        await memory.reopen("ana", "not-an-id")
    # The deleted conversation's exchanges are gone from recall too.
    embeds(fake_ollama, POD, [0.0, 1.0, 0.0])
    recall = await memory.recall("ana", POD, k=5)
    assert [hit.question for hit in recall.hits] == [CERT[0]]


async def test_steps_are_kept_with_the_answer_and_search_finds_title_or_text(
    open_: Opener, fake_ollama: FakeOllama
) -> None:
    memory = await open_(fake_ollama.url, clock=Ticking(datetime(2026, 11, 2, tzinfo=UTC)))
    evictions = await memory.create_conversation("ana", "Evictions (blue pool)")
    crash = await memory.create_conversation("ana", "Restarts")
    theirs = await memory.create_conversation("ben", "Evictions on green")
    steps = [
        {"kind": "tool_call_finished", "tool": "kubernetes__get", "text": "ok", "cut": False},
        {"kind": "confirmed", "id": "c1", "approved": True, "by": "ana", "at": "2026-11-02"},
    ]
    question, answer, vector = CRASH
    embeds(fake_ollama, f"{question}\n\n{answer}", vector)
    await memory.add_exchange("ana", crash.id, question, answer, steps)
    _, messages = await memory.reopen("ana", crash.id)
    assert [m.steps for m in messages] == [[], steps]
    _, for_the_model = await memory.reopen("ana", crash.id, last=2)
    assert [m.steps for m in for_the_model] == [[], []]  # the model gets the words only

    async def found(user: str, search: str) -> list[str]:
        return [c.id for c in await memory.list_conversations(user, search=search)]

    assert await found("ana", POD.upper()) == [crash.id]  # in a message, any case
    assert await found("ana", "evictions (BLUE") == [evictions.id]  # in a title, literally
    assert await found("ana", "evictions") == [evictions.id]
    assert await found("ben", "evictions") == [theirs.id]
    assert await found("ben", POD) == []
    assert await found("ana", ".*") == []


async def test_a_user_never_sees_or_changes_another_users_memory(
    open_: Opener, fake_ollama: FakeOllama
) -> None:
    memory = await open_(fake_ollama.url)
    anas = await memory.create_conversation("ana", "Restarts")
    await remember(fake_ollama, memory, "ana", anas.id, CRASH)
    await memory.create_conversation("ben", "Ben's own")

    assert [c.title for c in await memory.list_conversations("ben")] == ["Ben's own"]
    with pytest.raises(ConversationNotFound):
        await memory.reopen("ben", anas.id)
    with pytest.raises(ConversationNotFound):
        await memory.rename("ben", anas.id, "taken over")
    with pytest.raises(ConversationNotFound):
        await memory.delete("ben", anas.id)
    embeds(fake_ollama, "question\n\nanswer", [1.0, 0.0, 0.0])
    with pytest.raises(ConversationNotFound):
        await memory.add_exchange("ben", anas.id, "question", "answer")
    # Ana's exact text and Ana's exact vector: still nothing for Ben.
    embeds(fake_ollama, f"why did {POD} crash", CRASH[2])
    recall = await memory.recall("ben", f"why did {POD} crash", k=5)
    assert recall.hits == [] and recall.terms == (POD,)

    conversation, messages = await memory.reopen("ana", anas.id)
    assert conversation.title == "Restarts" and conversation.message_count == 2
    assert [m.content for m in messages] == [CRASH[0], CRASH[1]]
    embeds(fake_ollama, POD, CRASH[2])
    assert [hit.question for hit in (await memory.recall("ana", POD)).hits] == [CRASH[0]]


async def test_recall_by_meaning_falls_back_to_exact_cosine_after_trying_vector_search(
    open_: Opener, fake_ollama: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    commands = Commands()
    memory = await open_(fake_ollama.url, event_listeners=[commands])
    conversation = await memory.create_conversation("ana")
    disk = await remember(fake_ollama, memory, "ana", conversation.id, DISK)
    crash = await remember(fake_ollama, memory, "ana", conversation.id, CRASH)
    await remember(fake_ollama, memory, "ana", conversation.id, CERT)
    assert memory.vector_search is None

    # No word in common with the disk exchange: only the embedding relates them.
    query = [0.9, 0.3, 0.1]
    embeds(fake_ollama, "the machine ran out of storage", query)
    recall = await memory.recall("ana", "the machine ran out of storage", k=2)

    assert recall.mode == "exact_cosine" and recall.terms == () and recall.notice is None
    assert memory.vector_search is False
    assert "$vectorSearch is not available (code 40234: Unrecognized pipeline stage" in caplog.text
    assert [hit.exchange_id for hit in recall.hits] == [disk, crash]
    top = recall.hits[0]
    assert (top.question, top.answer, top.conversation_id) == (DISK[0], DISK[1], conversation.id)
    assert top.matched == ()
    assert top.similarity == pytest.approx(expected_similarity(query, DISK[2]))
    assert top.score == top.similarity
    assert recall.hits[1].score == pytest.approx(expected_similarity(query, CRASH[2]))

    tried = [c["pipeline"] for c in commands.named("aggregate") if c["aggregate"] == "messages"]
    assert tried == [
        [
            {
                "$vectorSearch": {
                    "index": "jamie_exchanges",
                    "path": "embedding",
                    "queryVector": query,
                    "numCandidates": 40,
                    "limit": 2,
                    "filter": {"user": {"$eq": "ana"}, "embedding_model": {"$eq": EMBED_MODEL}},
                }
            },
            {"$project": {"embedding": 0}},
            {"$addFields": {"similarity": {"$meta": "vectorSearchScore"}}},
        ]
    ]

    # Detected once: the next recall goes straight to the fallback.
    embeds(fake_ollama, "certificates", [0.0, 0.1, 0.9])
    again = await memory.recall("ana", "certificates", k=1)
    assert [hit.question for hit in again.hits] == [CERT[0]]
    assert len(commands.named("aggregate")) == 1


async def test_vectors_from_another_embedding_model_are_not_compared(
    open_: Opener, fake_ollama: FakeOllama
) -> None:
    memory = await open_(fake_ollama.url)
    conversation = await memory.create_conversation("ana")
    crash = await remember(fake_ollama, memory, "ana", conversation.id, CRASH)
    other = await open_(fake_ollama.url, settings=MemorySettings(embed_model="other-embed"))

    embeds(fake_ollama, "restarts", CRASH[2], model="other-embed")
    assert (await other.recall("ana", "restarts")).hits == []
    embeds(fake_ollama, "CrashLoopBackOff", CRASH[2], model="other-embed")
    recall = await other.recall("ana", "CrashLoopBackOff")
    assert [(hit.exchange_id, hit.similarity, hit.score) for hit in recall.hits] == [
        (crash, 0.0, 1.0)
    ]


async def test_mongodb_going_away_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    server = ferretdb_stack.start(tmp_path)
    settings = MemorySettings(embed_model=EMBED_MODEL, timeout_seconds=1)
    try:
        memory = await open_memory(server.url, "jamie", AsyncClient(nowhere()), settings)
        await memory.create_conversation("ana")
    finally:
        server.stop()
    try:
        started = time.monotonic()
        with pytest.raises(
            BackendUnavailable, match=f"MongoDB at 127.0.0.1:{server.port}: unreachable"
        ):
            await memory.list_conversations("ana")
        assert time.monotonic() - started < 5
    finally:
        await memory.close()


def test_vector_search_pipeline_shape() -> None:
    pipeline = vector_search_pipeline("idx", (0.5, 0.25), "ben", "nomic-embed-text", 3, 60)
    assert pipeline == [
        {
            "$vectorSearch": {
                "index": "idx",
                "path": "embedding",
                "queryVector": [0.5, 0.25],
                "numCandidates": 60,
                "limit": 3,
                "filter": {"user": {"$eq": "ben"}, "embedding_model": {"$eq": "nomic-embed-text"}},
            }
        },
        {"$project": {"embedding": 0}},
        {"$addFields": {"similarity": {"$meta": "vectorSearchScore"}}},
    ]


async def test_exact_text_finds_error_codes_and_pod_names_the_embedding_ranks_low(
    open_: Opener, fake_ollama: FakeOllama
) -> None:
    memory = await open_(fake_ollama.url)
    conversation = await memory.create_conversation("ana")
    disk = await remember(fake_ollama, memory, "ana", conversation.id, DISK)
    crash = await remember(fake_ollama, memory, "ana", conversation.id, CRASH)
    cert = await remember(fake_ollama, memory, "ana", conversation.id, CERT)

    # The query's embedding points at the certificate exchange; the error code wins anyway.
    query = [0.0, 0.05, 1.0]
    embeds(fake_ollama, "CrashLoopBackOff", query)
    recall = await memory.recall("ana", "CrashLoopBackOff", k=3)
    assert recall.terms == ("CrashLoopBackOff",)
    assert [hit.exchange_id for hit in recall.hits] == [crash, cert, disk]
    found = recall.hits[0]
    assert found.matched == ("CrashLoopBackOff",)
    assert found.similarity == pytest.approx(expected_similarity(query, CRASH[2]))
    assert found.score == pytest.approx(found.similarity + 1)

    # Found by meaning and by text: listed once, above the exchange with the same direction.
    embeds(fake_ollama, f"what happened to {POD} yesterday?", DISK[2])
    recall = await memory.recall("ana", f"what happened to {POD} yesterday?", k=3)
    assert recall.terms == (POD,)
    assert [hit.exchange_id for hit in recall.hits] == [crash, disk, cert]
    assert recall.hits[0].score == pytest.approx(0.5 + 1)
    assert recall.hits[1].score == pytest.approx(1.0)

    # Quoted text is matched literally (regex characters included) and case-sensitively.
    embeds(fake_ollama, 'exit "code 137 (OOMKilled)"', CERT[2])
    recall = await memory.recall("ana", 'exit "code 137 (OOMKilled)"', k=1)
    assert [(hit.exchange_id, hit.matched) for hit in recall.hits] == [
        (crash, ("code 137 (OOMKilled)",))
    ]
    embeds(fake_ollama, '"CODE 137 (OOMKILLED)"', CERT[2])
    recall = await memory.recall("ana", '"CODE 137 (OOMKILLED)"', k=1)
    assert [(hit.exchange_id, hit.matched) for hit in recall.hits] == [(cert, ())]


def test_exact_terms_are_codes_names_and_quoted_text() -> None:
    assert exact_terms(f"why is {POD} in CrashLoopBackOff again?") == (POD, "CrashLoopBackOff")
    assert exact_terms('what does "exit code 137" mean for OOMKilled pods') == (
        "exit code 137",
        "OOMKilled",
    )
    assert exact_terms("team-a/api: `ImagePullBackOff`, HTTP 503") == (
        "ImagePullBackOff",
        "team-a/api",
        "HTTP",
        "503",
    )
    assert exact_terms("how do I free disk space on a node") == ()
    assert exact_terms("  certificates? ") == ("certificates",)


async def test_retention_uses_ttl_indexes_where_supported_and_purges_on_ferretdb(
    open_: Opener, database: str, ferretdb: FerretHandle
) -> None:
    with pytest.raises(ValueError, match="retention_days"):
        MemorySettings(embed_model=EMBED_MODEL, retention_days=0)
    settings = MemorySettings(embed_model=EMBED_MODEL, retention_days=30)
    now = datetime.now(UTC)
    old = await open_(nowhere(), settings=settings, clock=lambda: now - timedelta(days=31))
    recent = await open_(nowhere(), settings=settings, clock=lambda: now - timedelta(days=29))
    expired = await old.create_conversation("ana", "expired")
    await old.add_exchange("ana", expired.id, "old question", "old answer")
    kept = await recent.create_conversation("ana", "kept")
    await recent.add_exchange("ana", kept.id, "newer question", "newer answer")

    commands = Commands()
    memory = await open_(nowhere(), settings=settings, event_listeners=[commands])

    ttl = [
        (command["createIndexes"], {**index, "key": dict(index["key"])})
        for command in commands.named("createIndexes")
        for index in command["indexes"]
        if "expireAfterSeconds" in index
    ]
    assert ttl == [
        (
            "conversations",
            {
                "key": {"updated_at": 1},
                "name": "retention_updated_at",
                "expireAfterSeconds": THIRTY_DAYS,
            },
        ),
        (
            "messages",
            {
                "key": {"created_at": 1},
                "name": "retention_created_at",
                "expireAfterSeconds": THIRTY_DAYS,
            },
        ),
    ]
    assert memory.retention == "purge"  # FerretDB: "expireAfterSeconds" is not implemented
    assert [c.title for c in await memory.list_conversations("ana")] == ["kept"]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ferretdb.url)
    try:
        left = await client[database]["messages"].find({}, {"content": 1, "_id": 0}).to_list()
    finally:
        await client.close()
    assert sorted(doc["content"] for doc in left) == ["newer answer", "newer question"]


async def test_mongodb_refusing_connections_is_a_clear_error_within_the_timeout() -> None:
    port = free_port()
    settings = MemorySettings(embed_model=EMBED_MODEL, timeout_seconds=1)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        await open_memory(
            f"mongodb://jamie:s3cret@127.0.0.1:{port}/", "jamie", AsyncClient(nowhere()), settings
        )
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert f"MongoDB at 127.0.0.1:{port}: unreachable or did not answer within 1 s" in message
    assert "Check: that the server runs" in message and "s3cret" not in message


async def test_mongodb_that_accepts_but_never_answers_does_not_hang() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        settings = MemorySettings(embed_model=EMBED_MODEL, timeout_seconds=1)
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match=f"MongoDB at 127.0.0.1:{port}: unreachable"):
            await open_memory(f"mongodb://127.0.0.1:{port}/", "jamie", AsyncClient(), settings)
        assert time.monotonic() - started < 5


async def test_ollama_down_stores_the_exchange_and_recall_says_it_uses_text_only(
    open_: Opener,
) -> None:
    memory = await open_(nowhere())
    conversation = await memory.create_conversation("ana")
    stored = await memory.add_exchange("ana", conversation.id, CRASH[0], CRASH[1])
    assert not stored.embedded
    assert stored.notice is not None
    assert stored.notice.startswith("stored without an embedding: Ollama could not embed")
    assert [m.content for m in (await memory.reopen("ana", conversation.id))[1]] == [
        CRASH[0],
        CRASH[1],
    ]

    recall = await memory.recall("ana", f"is {POD} in CrashLoopBackOff?")
    assert recall.mode == "text_only"
    assert recall.notice is not None
    assert "could not be embedded" in recall.notice and "exact text only" in recall.notice
    assert [(hit.exchange_id, hit.matched, hit.similarity) for hit in recall.hits] == [
        (stored.id, (POD, "CrashLoopBackOff"), 0.0)
    ]
    assert recall.hits[0].score == 1.0
    assert memory.vector_search is None  # nothing to search by meaning with
    with pytest.raises(ValueError, match="k must"):
        await memory.recall("ana", POD, k=0)
