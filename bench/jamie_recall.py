"""Jamie's recall when one person has 10,000 stored exchanges, on FerretDB (no `$vectorSearch`).

The exchanges are written as Jamie stores them (768-dimension embeddings, the question in the
assistant message, a user message beside each), straight into FerretDB from the local stack;
recall runs through `ConversationMemory` with the scripted fake Ollama embedding the query, as
in the tests. Measured: the first recall of the person (loading the index), then warm recalls
(p50, p99), recalls that follow another replica's write (the reader fetches the one new
exchange from the feed), the query's embedding alone (the fake's share of a recall), the
CPU time per recall and per embedding (the machine may be busy: CPU time is what Jamie
spends, whatever the wait for a core), the index's own size and the process's RSS before
and after it. Run: `.venv/bin/python -m bench.run jamie_recall`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from ollama import AsyncClient
from pymongo import AsyncMongoClient

from autodevops.clients.jamie.memory import MemorySettings, open_memory
from devstack import ferretdb as ferretdb_stack
from tests.fakes.fake_ollama import FakeOllama

MODEL = "nomic-embed-text"
DIMENSIONS = 768
USER = "ana"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exchanges", type=int, default=10_000)
    parser.add_argument("--recalls", type=int, default=200)
    parser.add_argument("--followed", type=int, default=20)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-") as workdir:
        mongo = ferretdb_stack.start(Path(workdir) / "stack")
        try:
            with FakeOllama(MODEL) as fake:
                return asyncio.run(measure(mongo.url, fake, options))
        finally:
            mongo.stop()


async def measure(url: str, fake: FakeOllama, options: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(21)
    seconds = await _store(url, options.exchanges, rng)
    settings = MemorySettings(embed_model=MODEL)
    rss_before = _rss_mb()
    reader = await open_memory(url, "jamie_bench", AsyncClient(host=fake.url), settings)
    writer = await open_memory(url, "jamie_bench", AsyncClient(host=fake.url), settings)
    try:
        started = time.perf_counter()
        first = await _recall(fake, reader, rng)
        cold = time.perf_counter() - started
        cpu_started = time.process_time()
        warm = [await _timed(fake, reader, rng) for _ in range(options.recalls)]
        warm_cpu = (time.process_time() - cpu_started) * 1000 / options.recalls
        conversation = await writer.create_conversation(USER)
        followed = []
        for i in range(options.followed):
            fake.expect_embed([_vector(rng)])
            await writer.add_exchange(USER, conversation.id, f"new question {i}", "new answer")
            followed.append(await _timed(fake, reader, rng))
        embeds = []
        ollama = AsyncClient(host=fake.url)
        cpu_started = time.process_time()
        for _ in range(options.recalls):
            fake.expect_embed([_vector(rng)])
            started = time.perf_counter()
            await ollama.embed(model=MODEL, input=["why was the web pod not ready"])
            embeds.append((time.perf_counter() - started) * 1000)
        embed_cpu = (time.process_time() - cpu_started) * 1000 / options.recalls
        index_mb = reader.index_bytes() / 2**20
    finally:
        await reader.close()
        await writer.close()
    return {
        "exchanges": options.exchanges,
        "store_seconds": round(seconds, 1),
        "first_recall_seconds (loads the index)": round(cold, 2),
        "first_recall_hits": first,
        "warm_recall_ms": _spread(warm),
        "recall_after_another_replica_wrote_ms": _spread(followed),
        "embed_alone_ms (the fake Ollama's part of a recall)": _spread(embeds),
        "cpu_ms_per_recall (this process, the fake included)": round(warm_cpu, 2),
        "cpu_ms_per_embed_alone": round(embed_cpu, 2),
        "index_mb": round(index_mb, 1),
        "rss_mb_before_after": [round(rss_before, 1), round(_rss_mb(), 1)],
    }


async def _store(url: str, count: int, rng: random.Random) -> float:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    messages = client["jamie_bench"]["messages"]
    start = datetime.now(UTC) - timedelta(days=30)
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for i in range(count):
        at = start + timedelta(minutes=3 * i)
        common = {"user": USER, "conversation_id": ObjectId(), "created_at": at}
        question = f"question {i}: why is pod web-{i:05d} not ready?"
        answer = f"answer {i}: " + "the readiness probe fails on /healthz with 503. " * 6
        batch.append({**common, "seq": 0, "role": "user", "content": question})
        batch.append(
            {
                **common,
                "seq": 1,
                "role": "assistant",
                "content": answer,
                "question": question,
                "embedding": _vector(rng),
                "embedding_model": MODEL,
            }
        )
        if len(batch) >= 1000:
            await messages.insert_many(batch)
            batch = []
    if batch:
        await messages.insert_many(batch)
    await client.close()
    return time.perf_counter() - started


def _vector(rng: random.Random) -> list[float]:
    return [rng.gauss(0, 1) for _ in range(DIMENSIONS)]


async def _recall(fake: FakeOllama, memory: Any, rng: random.Random) -> int:
    fake.expect_embed([_vector(rng)])
    recall = await memory.recall(USER, "why was the web pod not ready", k=5)
    assert recall.mode == "exact_cosine", recall
    return len(recall.hits)


async def _timed(fake: FakeOllama, memory: Any, rng: random.Random) -> float:
    started = time.perf_counter()
    hits = await _recall(fake, memory, rng)
    assert hits == 5, hits
    return (time.perf_counter() - started) * 1000


def _spread(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 2), "p99": round(p99, 2)}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
