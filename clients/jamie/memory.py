"""Jamie's memory on MongoDB: each person's conversations, and recall of their past exchanges.

Collections: ``conversations`` (one document per conversation) and ``messages`` (one document
per message, ordered by ``seq``). An exchange is a question and its answer: two messages, where
the assistant's also carries the question and the exchange's embedding, so one document is one
recall hit. Every query is filtered by the user, so nobody reads or changes another's memory.

Retention is a TTL index where the server has them; where it refuses the option (FerretDB),
Jamie deletes expired documents itself before serving, at most once per purge interval.

Recall ranks by meaning and by exact text, see `Recall` for the score rule. Meaning uses
``$vectorSearch`` when the server supports it (tried once; an error from the stage means no), and
otherwise an exact cosine ranking over the user's newest exchanges, held in process by
`recall_index` and kept in step with MongoDB across replicas through two small collections:
``recall_versions`` (per person: how many exchanges were added and conversations deleted, with
the ids of the latest of each) and ``recall_feed`` (the exchanges added lately, read by id).
A replica reads the person's version document before each recall and fetches only what changed;
it loads a person whole only the first time, or when it fell too far behind.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import httpx
import pymongo
from bson import ObjectId
from bson.errors import InvalidId
from ollama import AsyncClient, ResponseError
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
from pymongo.uri_parser import parse_uri

from autodevops.common.unavailable import BackendUnavailable

from .recall_index import IndexCache, PersonIndex, Row, doc_of, row_of

T = TypeVar("T")
Doc = dict[str, Any]
log = logging.getLogger("autodevops.jamie.memory")

VECTOR_INDEX = "jamie_exchanges"
# How many of the latest added exchanges and deleted conversations a version document names: a
# replica further behind than that for a person loads the person again.
RECENT_CHANGES = 100
FEED_TRIM_SECONDS = 60.0
LOAD_BATCH = 500
# Server error codes: an index option the server does not implement (FerretDB's TTL), and an
# index that exists with other options (a changed retention on MongoDB).
NOT_IMPLEMENTED = 238
INDEX_OPTIONS_CONFLICT = 85
# Characters with a meaning in PCRE (MongoDB) or RE2 (FerretDB); escaped one by one because
# `re.escape` also escapes spaces, which RE2 refuses.
_REGEX_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")
_QUOTED = re.compile(r'"([^"]+)"|`([^`]+)`')
_EDGE_PUNCTUATION = "\"'`.,;:!?()[]{}<>"
_WITHOUT_EMBEDDING = {"embedding": 0}
_WITHOUT_STEPS = {"steps": 0}
_FOR_THE_MODEL = {"embedding": 0, "steps": 0}


class ConversationNotFound(LookupError):
    """No such conversation for this user: another person's looks exactly like a missing one."""


@dataclass(frozen=True)
class MemorySettings:
    """What an operator tunes; the defaults follow the retention and sizing of the design."""

    embed_model: str
    retention_days: int = 365
    timeout_seconds: float = 10.0
    embed_timeout_seconds: float = 30.0
    # Exact cosine fallback: how many of the user's newest exchanges are ranked (held in the
    # process's recall index), and the index's memory for all persons together.
    cosine_candidates: int = 20_000
    index_megabytes: int = 512
    # How long the feed keeps an added exchange for the other replicas to read by id.
    feed_seconds: float = 900.0
    # How long an operation over many documents may take: loading a person into the recall
    # index, the purge where TTL indexes are missing (FerretDB scans a few hundred documents
    # a second; MongoDB reads thousands from an index).
    bulk_seconds: float = 300.0
    # $vectorSearch: numCandidates = limit x this (MongoDB advises 10 to 20), at most 10 000.
    candidates_per_hit: int = 20
    # Exact text: how many of the user's newest matching exchanges are considered.
    text_candidates: int = 200
    purge_interval_seconds: float = 3600.0
    vector_index: str = VECTOR_INDEX

    def __post_init__(self) -> None:
        if self.retention_days < 1:
            raise ValueError("retention_days must be at least 1 (0 would expire at once)")
        if self.cosine_candidates < 1 or self.index_megabytes < 1:
            raise ValueError("cosine_candidates and index_megabytes must be at least 1")


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int


@dataclass(frozen=True)
class Message:
    """`steps`: what the person saw while an answer was made (see `transcript`)."""

    seq: int
    role: Literal["user", "assistant"]
    content: str
    created_at: datetime
    steps: list[Doc] = field(default_factory=list)


@dataclass(frozen=True)
class Exchange:
    """A stored exchange; without an embedding (`notice` says why) it is found by text only."""

    id: str
    conversation_id: str
    question: str
    answer: str
    created_at: datetime
    embedded: bool
    notice: str | None


@dataclass(frozen=True)
class RecallHit:
    exchange_id: str
    conversation_id: str
    question: str
    answer: str
    created_at: datetime
    similarity: float
    matched: tuple[str, ...]
    score: float


@dataclass(frozen=True)
class Recall:
    """Past exchanges relevant to a query, best first.

    Score rule: ``score = similarity + matched / terms``.
    - ``similarity`` is in [0, 1]: (1 + cosine) / 2 between the query's and the exchange's
      embeddings (the scale ``$vectorSearch`` reports for cosine); 0 when either has none.
    - ``terms`` are the query's exact terms (`exact_terms`); ``matched`` those found verbatim
      (case-sensitive) in the question or the answer; this part is 0 without terms.
    So an exchange holding every exact term outranks any found by meaning alone. An exchange
    found both ways appears once; equal scores go newest first.

    ``mode``: ``vector_search`` ($vectorSearch on the server), ``exact_cosine`` (ranked here),
    or ``text_only`` (the query could not be embedded; ``notice`` says why).
    """

    hits: list[RecallHit]
    mode: Literal["vector_search", "exact_cosine", "text_only"]
    terms: tuple[str, ...]
    notice: str | None


def exact_terms(query: str) -> tuple[str, ...]:
    """The parts of a query to find verbatim: quoted text, and words that look like error
    codes or names (an inner capital, a digit, or ``- _ / : .`` inside); a one-word query is
    itself the term. Plain words are left to the embedding."""
    terms = [double or back for double, back in _QUOTED.findall(query)]
    words = [word.strip(_EDGE_PUNCTUATION) for word in _QUOTED.sub(" ", query).split()]
    words = [word for word in words if word]
    if len(words) == 1 and not terms:
        terms.append(words[0])
    terms += [word for word in words if _distinctive(word)]
    return tuple(dict.fromkeys(terms))


def _distinctive(word: str) -> bool:
    return len(word) >= 3 and (
        any(char.isdigit() for char in word)
        or re.search(r"\w[A-Z]", word) is not None
        or re.search(r"\w[-_/:.]\w", word) is not None
    )


def literal_pattern(text: str) -> str:
    """A regular expression matching `text` literally, valid for MongoDB and FerretDB."""
    return _REGEX_SPECIAL.sub(r"\\\1", text)


def vector_search_pipeline(
    index: str, query_vector: Sequence[float], user: str, model: str, limit: int, candidates: int
) -> list[Doc]:
    """The ``$vectorSearch`` aggregation: the user (and the embedding model, whose vectors alone
    are comparable) filter inside the stage, so other people's exchanges are never candidates.
    The index must declare ``embedding`` as the vector and ``user``, ``embedding_model`` as
    filter fields."""
    return [
        {
            "$vectorSearch": {
                "index": index,
                "path": "embedding",
                "queryVector": list(query_vector),
                "numCandidates": candidates,
                "limit": limit,
                "filter": {"user": {"$eq": user}, "embedding_model": {"$eq": model}},
            }
        },
        {"$project": {"embedding": 0}},
        {"$addFields": {"similarity": {"$meta": "vectorSearchScore"}}},
    ]


def vector_index_definition(dimensions: int) -> Doc:
    """The search index `vector_search_pipeline` needs, for vectors of `dimensions` values."""
    return {
        "fields": [
            {
                "type": "vector",
                "path": "embedding",
                "numDimensions": dimensions,
                "similarity": "cosine",
            },
            {"type": "filter", "path": "user"},
            {"type": "filter", "path": "embedding_model"},
        ]
    }


async def embedding_dimensions(ollama: AsyncClient, model: str) -> int:
    """How many values the model's vectors have, from its own metadata
    (`<architecture>.embedding_length`): never assumed, since every model differs."""
    shown = await ollama.show(model)
    for key, value in (shown.modelinfo or {}).items():
        if key.endswith(".embedding_length"):
            return int(value)
    raise ValueError(f"the model {model} does not state its embedding length")


def similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """(1 + cosine) / 2, so 1 is the same direction and 0 the opposite; 0 when not comparable."""
    if len(a) != len(b) or not a:
        return 0.0
    norms = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    if norms == 0:
        return 0.0
    return (1 + math.fsum(x * y for x, y in zip(a, b, strict=True)) / norms) / 2


def _describe(url: str) -> str:
    """host:port of every seed, never the credentials."""
    try:
        nodes = parse_uri(url)["nodelist"]
    except (PyMongoError, ValueError):
        return "the configured MongoDB URL (it does not parse)"
    return ", ".join(f"{host}:{port}" for host, port in nodes)


async def open_memory(
    url: str,
    database: str,
    ollama: AsyncClient,
    settings: MemorySettings,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    **client_options: Any,
) -> ConversationMemory:
    """Connect, check the server answers and set up the indexes; `BackendUnavailable` within
    the timeout otherwise. `client_options` go to the MongoDB client (TLS, listeners)."""
    timeout_ms = int(settings.timeout_seconds * 1000)
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        url,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        timeoutMS=timeout_ms,
        tz_aware=True,
        **client_options,
    )
    memory = ConversationMemory(client, database, ollama, settings, _describe(url), clock)
    try:
        await memory._db(client.admin.command("ping"))
        await memory._ensure_indexes()
    except BaseException:
        await client.close()
        raise
    return memory


class ConversationMemory:
    """One person's view per call: every method takes the user and touches only their data."""

    def __init__(
        self,
        client: AsyncMongoClient[Doc],
        database: str,
        ollama: AsyncClient,
        settings: MemorySettings,
        where: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._client = client
        self._conversations: AsyncCollection[Doc] = client[database]["conversations"]
        self._messages: AsyncCollection[Doc] = client[database]["messages"]
        self._versions: AsyncCollection[Doc] = client[database]["recall_versions"]
        self._feed: AsyncCollection[Doc] = client[database]["recall_feed"]
        self._indexes = IndexCache(settings.index_megabytes << 20, settings.cosine_candidates)
        self._feed_trimmed_at: float | None = None
        self._ollama = ollama
        self.settings = settings
        self._where = where
        self._clock = clock
        self.retention: Literal["ttl_index", "purge"] = "ttl_index"
        self._purged_at: float | None = None
        self._vector_search: bool | None = None

    async def close(self) -> None:
        await self._client.close()

    async def ping(self) -> None:
        await self._db(self._client.admin.command("ping"))

    async def _db(self, operation: Awaitable[T]) -> T:
        try:
            return await operation
        except PyMongoError as exc:
            if not isinstance(exc, ConnectionFailure) and not exc.timeout:
                raise
            reason = str(exc).split(", Timeout:")[0][:300]
            raise BackendUnavailable(
                "MongoDB",
                self._where,
                f"unreachable or did not answer within {self.settings.timeout_seconds:g} s "
                f"({reason})",
                "that the server runs and listens there, the MongoDB URL and TLS options, and "
                "that network policies let Jamie reach it",
            ) from exc

    def _bulk(self) -> Any:
        """The time budget of an operation over many documents (`bulk_seconds`)."""
        return pymongo.timeout(max(self.settings.bulk_seconds, self.settings.timeout_seconds))

    async def _ensure_indexes(self) -> None:
        await self._db(
            self._conversations.create_index([("user", 1), ("updated_at", -1)], name="user_recent")
        )
        await self._db(
            self._messages.create_index(
                [("user", 1), ("conversation_id", 1), ("seq", 1)], name="user_conversation_seq"
            )
        )
        await self._db(
            self._messages.create_index(
                [("user", 1), ("role", 1), ("created_at", -1)], name="user_role_recent"
            )
        )
        ttl = [
            await self._retention_index(self._conversations, "updated_at"),
            await self._retention_index(self._messages, "created_at"),
        ]
        if not all(ttl):
            self.retention = "purge"
            await self._upkeep()

    async def _retention_index(self, collection: AsyncCollection[Doc], field: str) -> bool:
        """A TTL index on `field`; False when the server does not implement TTL indexes."""
        name = f"retention_{field}"
        seconds = self.settings.retention_days * 86_400
        try:
            await self._db(collection.create_index(field, name=name, expireAfterSeconds=seconds))
        except OperationFailure as exc:
            if exc.code == NOT_IMPLEMENTED:
                return False
            if exc.code != INDEX_OPTIONS_CONFLICT:
                raise
            command = {"name": name, "expireAfterSeconds": seconds}
            await self._db(collection.database.command("collMod", collection.name, index=command))
        return True

    async def purge_expired(self) -> int:
        """Delete what is past retention (for servers without TTL indexes); how many."""
        cutoff = self._clock() - timedelta(days=self.settings.retention_days)
        with self._bulk():
            messages = await self._db(self._messages.delete_many({"created_at": {"$lt": cutoff}}))
            conversations = await self._db(
                self._conversations.delete_many({"updated_at": {"$lt": cutoff}})
            )
        self._purged_at = time.monotonic()
        return messages.deleted_count + conversations.deleted_count

    async def _upkeep(self) -> None:
        if self.retention != "purge":
            return
        due = self._purged_at is None or (
            time.monotonic() - self._purged_at >= self.settings.purge_interval_seconds
        )
        if due:
            await self.purge_expired()

    # Conversations

    async def create_conversation(self, user: str, title: str = "New conversation") -> Conversation:
        await self._upkeep()
        now = self._clock()
        doc: Doc = {
            "user": user,
            "title": _title(title),
            "created_at": now,
            "updated_at": now,
            "message_count": 0,
        }
        result = await self._db(self._conversations.insert_one(doc))
        return _conversation({**doc, "_id": result.inserted_id})

    async def list_conversations(
        self, user: str, limit: int = 100, search: str | None = None
    ) -> list[Conversation]:
        """The user's conversations, most recently active first; with `search`, those whose
        title or messages hold it (any case, taken literally)."""
        await self._upkeep()
        query: Doc = {"user": user}
        if search:
            pattern = {"$regex": literal_pattern(search), "$options": "i"}
            said = {"user": user, "content": pattern}
            ids = await self._db(
                self._messages.find(said, {"conversation_id": 1})
                .sort("created_at", -1)
                .limit(self.settings.text_candidates)
                .to_list()
            )
            found = list({doc["conversation_id"] for doc in ids})
            query["$or"] = [{"title": pattern}, {"_id": {"$in": found}}]
        cursor = self._conversations.find(query).sort("updated_at", -1).limit(limit)
        return [_conversation(doc) for doc in await self._db(cursor.to_list())]

    async def reopen(
        self, user: str, conversation_id: str, last: int | None = None
    ) -> tuple[Conversation, list[Message]]:
        """A conversation and its messages in the order they were said; with `last`, only the
        newest ones (what a model is given), read without the rest."""
        await self._upkeep()
        found = await self._db(self._conversations.find_one(_owned(user, conversation_id)))
        if found is None:
            raise ConversationNotFound(conversation_id)
        query = {"user": user, "conversation_id": found["_id"]}
        shown = _WITHOUT_EMBEDDING if last is None else _FOR_THE_MODEL
        cursor = self._messages.find(query, shown).sort("seq", -1)
        if last is not None:
            cursor = cursor.limit(last)
        newest_first = await self._db(cursor.to_list())
        messages = [
            Message(
                doc["seq"], doc["role"], doc["content"], doc["created_at"], doc.get("steps", [])
            )
            for doc in reversed(newest_first)
        ]
        return _conversation(found), messages

    async def rename(self, user: str, conversation_id: str, title: str) -> Conversation:
        await self._upkeep()
        found = await self._db(
            self._conversations.find_one_and_update(
                _owned(user, conversation_id),
                {"$set": {"title": _title(title)}},
                return_document=ReturnDocument.AFTER,
            )
        )
        if found is None:
            raise ConversationNotFound(conversation_id)
        return _conversation(found)

    async def delete(self, user: str, conversation_id: str) -> None:
        """Messages first: a delete cut short leaves the conversation listed, to delete again,
        never exchanges that recall finds without a conversation."""
        await self._upkeep()
        owned = _owned(user, conversation_id)
        if await self._db(self._conversations.find_one(owned, {"_id": 1})) is None:
            raise ConversationNotFound(conversation_id)
        said = {"user": user, "conversation_id": owned["_id"]}
        await self._db(self._messages.delete_many(said))
        await self._db(self._feed.delete_many(said))
        await self._db(
            self._versions.update_one(
                {"_id": user},
                {
                    "$inc": {"deletions": 1},
                    "$push": {"gone": {"$each": [conversation_id], "$slice": -RECENT_CHANGES}},
                },
                upsert=True,
            )
        )
        index = self._indexes.get(user)
        if index is not None:
            index.drop_conversations({conversation_id})
        await self._db(self._conversations.delete_one(owned))

    # Exchanges and recall

    async def add_exchange(
        self,
        user: str,
        conversation_id: str,
        question: str,
        answer: str,
        steps: list[Doc] | None = None,
    ) -> Exchange:
        """Store a question and its answer (with the steps that made it), embedded together;
        when Ollama fails the exchange is stored anyway, without an embedding."""
        await self._upkeep()
        vector, problem = await self._embed(f"{question}\n\n{answer}")
        owned = _owned(user, conversation_id)
        now = self._clock()
        found = await self._db(
            self._conversations.find_one_and_update(
                owned,
                {"$inc": {"message_count": 2}, "$set": {"updated_at": now}},
                return_document=ReturnDocument.AFTER,
            )
        )
        if found is None:
            raise ConversationNotFound(conversation_id)
        seq = found["message_count"] - 2
        common = {"user": user, "conversation_id": found["_id"], "created_at": now}
        reply: Doc = {**common, "seq": seq + 1, "role": "assistant", "content": answer}
        reply["question"] = question
        if steps:
            reply["steps"] = steps
        if vector is not None:
            reply["embedding"] = vector
            reply["embedding_model"] = self.settings.embed_model
        asked: Doc = {**common, "seq": seq, "role": "user", "content": question}
        result = await self._db(self._messages.insert_many([asked, reply]))
        if self._vector_search is not True:
            await self._publish(user, {**reply, "_id": result.inserted_ids[1]})
        notice = None if problem is None else f"stored without an embedding: {problem}"
        return Exchange(
            str(result.inserted_ids[1]),
            conversation_id,
            question,
            answer,
            now,
            vector is not None,
            notice,
        )

    async def recall(self, user: str, query: str, k: int = 5) -> Recall:
        """The user's `k` past exchanges most relevant to `query`; see `Recall`."""
        if k < 1:
            raise ValueError("k must be at least 1")
        await self._upkeep()
        terms = exact_terms(query)
        index: PersonIndex | None = None
        if self._vector_search is False:
            # Embedding the query and bringing the index in step wait on different servers.
            (vector, problem), index = await asyncio.gather(self._embed(query), self._index(user))
        else:
            vector, problem = await self._embed(query)
        found: dict[Any, Doc] = {}
        mode: Literal["vector_search", "exact_cosine", "text_only"] = "text_only"
        if vector is not None and self._vector_search is not False:
            by_search = await self._vector_searched(user, vector, k)
            if by_search is not None:
                mode = "vector_search"
                found.update((doc["_id"], doc) for doc in by_search)
        if self._vector_search is False:
            if index is None:
                index = await self._index(user)
            if vector is not None:
                mode = "exact_cosine"
                found.update((row.id, doc_of(row, sim)) for row, sim in index.by_meaning(vector, k))
            for row in index.by_text(terms, self.settings.text_candidates):
                sim = 0.0 if vector is None else index.similarity(row, vector)
                found.setdefault(row.id, doc_of(row, sim))
        else:
            for doc in await self._by_text(user, terms):
                found.setdefault(doc["_id"], doc)
        hits = [_hit(doc, vector, self.settings.embed_model, terms) for doc in found.values()]
        hits.sort(key=lambda hit: (hit.score, hit.created_at), reverse=True)
        notice = None
        if problem is not None:
            notice = f"the query could not be embedded ({problem}); found by exact text only"
        return Recall(hits[:k], mode, terms, notice)

    @property
    def vector_search(self) -> bool | None:
        """Whether the server runs ``$vectorSearch``; None until a recall has tried it."""
        return self._vector_search

    async def _vector_searched(self, user: str, vector: list[float], k: int) -> list[Doc] | None:
        """The `k` nearest by ``$vectorSearch``; None when the server has no such stage (then
        known for good, and recall uses the index)."""
        candidates = min(10_000, k * self.settings.candidates_per_hit)
        pipeline = vector_search_pipeline(
            self.settings.vector_index, vector, user, self.settings.embed_model, k, candidates
        )
        try:
            found = await self._db(self._messages.aggregate(pipeline))
            docs = await self._db(found.to_list())
        except OperationFailure as exc:
            if self._vector_search:
                raise
            self._vector_search = False
            log.warning(
                "$vectorSearch is not available (code %s: %s); recall ranks the newest %d "
                "exchanges of each user by exact cosine instead, in process",
                exc.code,
                (exc.details or {}).get("errmsg", exc),
                self.settings.cosine_candidates,
            )
            return None
        self._vector_search = True
        return docs

    # The recall index, in step with MongoDB

    def index_bytes(self) -> int:
        """Memory the recall index holds now (at most about `index_megabytes`)."""
        return self._indexes.nbytes()

    async def _publish(self, user: str, reply: Doc) -> None:
        """Tell every replica an exchange was added: the feed first, then the version document,
        so a replica that sees the new id can read it."""
        exchange = {key: value for key, value in reply.items() if key != "steps"}
        entry = {"_id": str(reply["_id"]), "user": user, "at": reply["created_at"]}
        await self._db(self._feed.insert_one({**entry, "exchange": exchange}))
        await self._db(
            self._versions.update_one(
                {"_id": user},
                {
                    "$inc": {"added": 1},
                    "$push": {"recent": {"$each": [entry["_id"]], "$slice": -RECENT_CHANGES}},
                },
                upsert=True,
            )
        )
        index = self._indexes.get(user)
        if index is not None and index.loaded:
            index.add([row_of(exchange, self.settings.embed_model)])
        await self._trim_feed()

    async def _trim_feed(self) -> None:
        due = self._feed_trimmed_at is None or (
            time.monotonic() - self._feed_trimmed_at >= FEED_TRIM_SECONDS
        )
        if due:
            self._feed_trimmed_at = time.monotonic()
            cutoff = self._clock() - timedelta(seconds=self.settings.feed_seconds)
            await self._db(self._feed.delete_many({"at": {"$lt": cutoff}}))

    async def _index(self, user: str) -> PersonIndex:
        """The user's index, brought in step with MongoDB; one load or refresh at a time."""
        index = self._indexes.get(user)
        if index is None:
            index = PersonIndex(self.settings.cosine_candidates)
            self._indexes.put(user, index)
        async with index.lock:
            try:
                await self._refresh(user, index)
            except BaseException:
                if not index.loaded:
                    self._indexes.drop(user)
                raise
        self._indexes.evict(keep=user)
        return index

    async def _refresh(self, user: str, index: PersonIndex) -> None:
        version = await self._db(self._versions.find_one({"_id": user})) or {}
        added, deletions = int(version.get("added", 0)), int(version.get("deletions", 0))
        behind = (added - index.added, deletions - index.deletions)
        recent, gone = list(version.get("recent", [])), list(version.get("gone", []))
        if index.loaded and not (0 <= behind[0] <= len(recent) and 0 <= behind[1] <= len(gone)):
            log.info("recall index of a person fell behind by %s changes: loading it again", behind)
            index.clear()
        if not index.loaded:
            await self._load(user, index)
        else:
            # Additions before deletions: an exchange added, then its conversation deleted, is
            # fetched (or found gone) and then dropped.
            if behind[0]:
                wanted = [i for i in recent[len(recent) - behind[0] :] if i not in index.positions]
                fetched = await asyncio.gather(*(self._added(user, i) for i in wanted))
                index.add([row for row in fetched if row is not None])
            if behind[1]:
                index.drop_conversations(set(gone[len(gone) - behind[1] :]))
        index.added, index.deletions = added, deletions
        index.expire(self._clock() - timedelta(days=self.settings.retention_days))

    async def _load(self, user: str, index: PersonIndex) -> None:
        query = {"user": user, "role": "assistant"}
        # Batches of a few MB: FerretDB would otherwise send them all in one reply.
        cursor = (
            self._messages.find(query, _WITHOUT_STEPS)
            .sort("created_at", -1)
            .limit(self.settings.cosine_candidates)
            .batch_size(LOAD_BATCH)
        )
        with self._bulk():
            await self._db(self._fill(index, cursor))
        index.shrink()
        index.loaded = True

    async def _fill(self, index: PersonIndex, cursor: Any) -> None:
        """Batch by batch, so a load holds one batch of decoded documents at a time."""
        batch: list[Row] = []
        async for doc in cursor:
            batch.append(row_of(doc, self.settings.embed_model))
            if len(batch) == LOAD_BATCH:
                index.add(batch)
                batch = []
        index.add(batch)

    async def _added(self, user: str, exchange_id: str) -> Row | None:
        """An added exchange by id: from the feed, or the messages once the feed let it go;
        None when it is gone (deleted, or expired)."""
        entry = await self._db(self._feed.find_one({"_id": exchange_id}))
        if entry is not None and entry.get("user") == user:
            return row_of(entry["exchange"], self.settings.embed_model)
        try:
            query = {"_id": ObjectId(exchange_id), "user": user}
        except InvalidId:
            return None
        doc = await self._db(self._messages.find_one(query, _WITHOUT_STEPS))
        return None if doc is None else row_of(doc, self.settings.embed_model)

    async def _by_text(self, user: str, terms: tuple[str, ...]) -> list[Doc]:
        if not terms:
            return []
        patterns = [{"$regex": literal_pattern(term)} for term in terms]
        anywhere = [{field: p} for p in patterns for field in ("question", "content")]
        query = {"user": user, "role": "assistant", "$or": anywhere}
        cursor = (
            self._messages.find(query, _WITHOUT_STEPS)
            .sort("created_at", -1)
            .limit(self.settings.text_candidates)
        )
        return await self._db(cursor.to_list())

    async def _embed(self, text: str) -> tuple[list[float] | None, str | None]:
        """The embedding, or why there is none: Ollama down, slow, or answering nonsense."""
        model = self.settings.embed_model
        try:
            response = await asyncio.wait_for(
                self._ollama.embed(model=model, input=[text]),
                self.settings.embed_timeout_seconds,
            )
        except TimeoutError:
            limit = self.settings.embed_timeout_seconds
            return None, f"Ollama did not embed with {model} within {limit:g} s"
        except (ConnectionError, ResponseError, httpx.HTTPError) as exc:
            return None, f"Ollama could not embed with {model}: {exc}"
        if len(response.embeddings) != 1 or not response.embeddings[0]:
            return None, f"Ollama returned no usable embedding from {model}"
        return [float(x) for x in response.embeddings[0]], None


def _owned(user: str, conversation_id: str) -> Doc:
    """The filter for one of the user's conversations; an id that cannot exist matches none."""
    try:
        return {"_id": ObjectId(conversation_id), "user": user}
    except (InvalidId, TypeError):
        return {"_id": None, "user": user}


def _title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise ValueError("a conversation title cannot be empty")
    return cleaned[:200]


def _conversation(doc: Doc) -> Conversation:
    return Conversation(
        str(doc["_id"]), doc["title"], doc["created_at"], doc["updated_at"], doc["message_count"]
    )


def _hit(doc: Doc, vector: list[float] | None, model: str, terms: tuple[str, ...]) -> RecallHit:
    """Score one exchange by the rule in `Recall`; one found by text alone gets its similarity
    here, from its stored embedding when that came from the same model."""
    if "similarity" in doc:
        similar = float(doc["similarity"])
    elif vector is not None and doc.get("embedding_model") == model:
        similar = similarity(vector, doc["embedding"])
    else:
        similar = 0.0
    matched = tuple(term for term in terms if term in doc["question"] or term in doc["content"])
    exact = len(matched) / len(terms) if terms else 0.0
    return RecallHit(
        str(doc["_id"]),
        str(doc["conversation_id"]),
        doc["question"],
        doc["content"],
        doc["created_at"],
        similar,
        matched,
        similar + exact,
    )


class LazyMemory:
    """The memory, connected on first use: Jamie starts while MongoDB is down and serves as
    soon as it is back. Once connected, the driver reconnects by itself."""

    def __init__(
        self,
        url: str,
        database: str,
        ollama: AsyncClient,
        settings: MemorySettings,
        retry_seconds: float = 5.0,
    ) -> None:
        self._connect = (url, database, ollama, settings)
        self._retry_seconds = retry_seconds
        self._memory: ConversationMemory | None = None
        self._failed: tuple[float, BackendUnavailable] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> ConversationMemory:
        """The connected memory, or `BackendUnavailable` (the last reason, retried every few s)."""
        async with self._lock:
            if self._memory is not None:
                return self._memory
            if self._failed and time.monotonic() - self._failed[0] < self._retry_seconds:
                raise self._failed[1]
            try:
                self._memory = await open_memory(*self._connect)
            except BackendUnavailable as exc:
                self._failed = (time.monotonic(), exc)
                raise
            self._failed = None
            return self._memory

    async def close(self) -> None:
        if self._memory is not None:
            await self._memory.close()
