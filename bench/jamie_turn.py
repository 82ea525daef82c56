"""What Jamie itself adds to a question, with a fake model that answers at once.

Jamie runs as users run it (`autodevops jamie --config`) on a real Redis and FerretDB from the
local stack, with a real Prometheus MCP server that it calls for the person; the model is the
scripted fake Ollama of the tests, so the figures are Jamie's own work: HTTP and sessions,
recall (one embed, a read), the model loop, storing the exchange (one embed, two writes).
Measured: a question without tools (to the first `text` event and to `done`), a question with
one read-only tool call (`prometheus__query` of `up`) and the same question again inside the
tool-cache TTL, sign-in, cold start and peak RSS. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pymongo
import redis
import yaml

from autodevops.clients.jamie.people import check_password, hash_password
from devstack import ferretdb as ferretdb_stack
from devstack import redis as redis_stack
from devstack.jamie import (
    PASSWORDS,
    ROLES,
    Deployment,
    Jamie,
    mcp_deployment,
)
from devstack.prometheus import start_prometheus
from devstack.services import audit_lines, cli
from tests.fakes.fake_ollama import FakeOllama, call, say

DIM = 768  # nomic-embed-text, the default embedding model
QUESTION = "Is everything healthy right now?"
ANSWER = "Everything I can see is healthy: every scrape target answers."
TOOL_QUESTION = "Are all scrape targets up?"
TOOL = ("prometheus__query", {"query": "up"})
LIMITS = {
    "login_per_address_per_minute": 100_000,
    "login_global_per_minute": 100_000,
    "chat_per_minute": 100_000,
    "tool_cache_seconds": 300,
    "confirm_seconds": 60,
}

JSON = {"content-type": "application/json"}

Events = list[tuple[str, dict[str, Any]]]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--tool-turns", type=int, default=20)
    parser.add_argument("--sign-ins", type=int, default=10)
    parser.add_argument("--starts", type=int, default=3)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-") as workdir:
        stack = Path(workdir) / "stack"
        started: list[Any] = []
        try:
            prometheus = start_prometheus(stack / "prometheus")
            started.append(prometheus)
            kv = redis_stack.start(stack)
            started.append(kv)
            mongo = ferretdb_stack.start(stack)
            started.append(mongo)
            return measure(Path(workdir), prometheus.url, kv.url, mongo.url, options)
        finally:
            for handle in reversed(started):
                handle.stop()


def measure(
    workdir: Path, prometheus_url: str, redis_url: str, mongodb_url: str, options: Any
) -> dict[str, Any]:
    users = [
        {"username": user, "password_hash": hash_password(password), "roles": ROLES[user]}
        for user, password in PASSWORDS.items()
    ]
    (workdir / "users.yaml").write_text(yaml.safe_dump(users))
    roles = {"viewer": {"tools": ["*"]}, "operator": {"tools": ["*"]}}
    deployment = mcp_deployment(
        workdir, {"prometheus": (roles, ["--prometheus-url", prometheus_url])}
    )
    try:
        with FakeOllama() as fake:
            fake.always_answer_tags()
            report = _with_jamie(deployment, fake, redis_url, mongodb_url, options)
            report["cold_start_to_healthz_s"] = _cold_starts(
                workdir / "bench.yaml", workdir / "bench-cold.log", options.starts
            )
            report["parts"] = _parts(fake, mongodb_url, workdir / "bench.yaml")
        fake.verify()
    finally:
        deployment.stop()
    return report


def _with_jamie(
    deployment: Deployment, fake: FakeOllama, redis_url: str, mongodb_url: str, options: Any
) -> dict[str, Any]:
    jamie = deployment.start("bench", fake, redis_url, mongodb_url, limits=LIMITS)
    try:
        plain = _plain_turns(jamie, fake, options.turns)
        tools = _tool_turns(jamie, fake, redis_url, options.tool_turns)
        growing = _growing_conversation(jamie, fake, options.turns)
        sign_in = _sign_ins(jamie, options.sign_ins)
        rss = _peak_rss_mb(jamie.process.pid)
    finally:
        jamie.close()
        _stop(jamie.process)
    return {
        "turn_without_tools": plain,
        "turn_with_one_tool_call": tools,
        "one_growing_conversation": growing,
        "sign_in": sign_in,
        "peak_rss_mb": round(rss, 1),
    }


def _timed_ask(jamie: Jamie, user: str, conversation: str, question: str) -> dict[str, float]:
    """Seconds from the POST to the first of each event kind; fails on a turn that failed."""
    seen: dict[str, float] = {}

    def on_event(kind: str, _: dict[str, Any]) -> None:
        seen.setdefault(kind, time.perf_counter() - began)

    began = time.perf_counter()
    events: Events = jamie.ask(user, conversation, question, on_event)
    if "done" not in seen or "error" in seen:
        raise RuntimeError(f"the turn failed: {json.dumps(events)[:2000]}")
    return seen


def _plain_script(fake: FakeOllama) -> None:
    fake.expect_embed([_vector(0)])  # recall
    fake.expect_chat(say(ANSWER))
    fake.expect_embed([_vector(1)])  # storing the exchange


def _tool_script(fake: FakeOllama) -> None:
    fake.expect_embed([_vector(2)])
    fake.expect_chat(call(TOOL))
    fake.expect_chat(say(ANSWER), check=_has_tool_result)
    fake.expect_embed([_vector(3)])


def _has_tool_result(body: dict[str, Any]) -> None:
    results = [m for m in body["messages"] if m["role"] == "tool"]
    assert results and "prometheus" in results[-1]["content"], "no result of the query"


def _plain_turns(jamie: Jamie, fake: FakeOllama, turns: int) -> dict[str, Any]:
    """Each question in a new, named conversation, deleted after it: the memory stays empty,
    so every turn does the same work. A first turn (not counted) opens the person's MCP
    sessions and finds out that FerretDB has no `$vectorSearch`."""
    ben = jamie.client("ben")
    prepared, recalled, first_text, done = [], [], [], []
    for index in range(turns + 1):
        conversation = jamie.new_conversation("ben", "Health")
        _plain_script(fake)
        seen = _timed_ask(jamie, "ben", conversation, QUESTION)
        ben.delete(f"/api/conversations/{conversation}", headers=JSON).raise_for_status()
        if index:
            prepared.append(seen["turn"])
            recalled.append(seen["recall"])
            first_text.append(seen["text"])
            done.append(seen["done"])
    return {
        "turns": turns,
        "to_turn_event_median_ms": _ms(statistics.median(prepared)),
        "to_recall_event_median_ms": _ms(statistics.median(recalled)),
        "to_first_text": _summary(first_text),
        "to_done": _summary(done),
    }


def _growing_conversation(jamie: Jamie, fake: FakeOllama, turns: int) -> dict[str, Any]:
    """The same question asked `turns` times in one conversation: the history Jamie reopens
    and the exchanges recall compares grow by one exchange a turn."""
    conversation = jamie.new_conversation("ana", "Health")
    done = []
    for _ in range(turns):
        _plain_script(fake)
        done.append(_timed_ask(jamie, "ana", conversation, QUESTION)["done"])
    tenth = max(1, turns // 10)
    return {
        "turns": turns,
        "to_done_first_tenth_median_ms": _ms(statistics.median(done[:tenth])),
        "to_done_last_tenth_median_ms": _ms(statistics.median(done[-tenth:])),
    }


def _tool_turns(jamie: Jamie, fake: FakeOllama, redis_url: str, turns: int) -> dict[str, Any]:
    """Pairs: the question with the cache emptied (the call reaches Prometheus), then the same
    question again inside the TTL (the result comes from Redis). Each pair has a new, named
    conversation, deleted after it, so the memory stays the same size from pair to pair."""
    audit = jamie.audit_logs["prometheus"]
    carl = jamie.client("carl")
    fresh, cached = [], []
    with redis.Redis.from_url(redis_url) as kv:
        for index in range(turns + 1):
            conversation = jamie.new_conversation("carl", "Scrape targets")
            for key in kv.scan_iter(match="jamie:tool:*"):
                kv.delete(key)
            calls_before = _queries_by(audit, "carl")
            _tool_script(fake)
            done_fresh = _timed_ask(jamie, "carl", conversation, TOOL_QUESTION)["done"]
            _tool_script(fake)
            done_cached = _timed_ask(jamie, "carl", conversation, TOOL_QUESTION)["done"]
            if _queries_by(audit, "carl") != calls_before + 1:
                raise RuntimeError("the repeated question did not come from the tool cache")
            carl.delete(f"/api/conversations/{conversation}", headers=JSON).raise_for_status()
            if index:
                fresh.append(done_fresh)
                cached.append(done_cached)
    fresh_ms, cached_ms = statistics.median(fresh) * 1000, statistics.median(cached) * 1000
    return {
        "turns": turns,
        "to_done_tool_called": _summary(fresh),
        "to_done_from_cache": _summary(cached),
        "cache_saves_ms": round(fresh_ms - cached_ms, 2),
    }


def _queries_by(audit: Path, person: str) -> int:
    return sum(1 for r in audit_lines(audit) if r["tool"] == "query" and r["subject"] == person)


def _sign_ins(jamie: Jamie, count: int) -> dict[str, Any]:
    """`POST /api/session` (scrypt in a thread, a session in Redis), next to `GET /api/me`
    (a session lookup: the floor of any signed-in call)."""
    body = {"username": "ana", "password": PASSWORDS["ana"]}
    times, floor = [], []
    with httpx.Client(base_url=jamie.api_url, timeout=30) as http:
        for index in range(count + 1):
            http.cookies.clear()
            began = time.perf_counter()
            http.post("/api/session", json=body).raise_for_status()
            if index:
                times.append(time.perf_counter() - began)
        for _ in range(50):
            began = time.perf_counter()
            http.get("/api/me").raise_for_status()
            floor.append(time.perf_counter() - began)
    return {
        "sign_ins": count,
        "sign_in": _summary(times),
        "signed_in_get_me_median_ms": _ms(statistics.median(floor)),
    }


def _cold_starts(config: Path, log: Path, starts: int) -> float:
    """Process spawn to `/healthz` 200, with the configuration of the Jamie measured above."""
    health = yaml.safe_load(config.read_text())["ports"]["health"]
    url = f"http://127.0.0.1:{health}/healthz"
    colds = []
    for _ in range(starts):
        began = time.perf_counter()
        process = subprocess.Popen(
            [*cli(), "jamie", "--config", str(config)],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            _until(lambda: _answers(url), process, log)
            colds.append(time.perf_counter() - began)
        finally:
            _stop(process)
    return round(statistics.median(colds), 3)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _until(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"Jamie did not become healthy:\n{log.read_text()[-3000:]}")
        time.sleep(0.01)


def _parts(fake: FakeOllama, mongodb_url: str, config: Path) -> dict[str, float]:
    """The pieces a turn is made of, timed alone: where Jamie's time goes. The two reads are
    Jamie's own queries on the growing conversation, as it was at its end."""
    hashed = hash_password(PASSWORDS["ana"])
    scrypt = []
    for _ in range(10):
        began = time.perf_counter()
        check_password(hashed, PASSWORDS["ana"])
        scrypt.append(time.perf_counter() - began)
    embeds = []
    with httpx.Client(base_url=fake.url) as http:
        for _ in range(20):
            fake.expect_embed([_vector(4)])
            began = time.perf_counter()
            http.post("/api/embed", json={"model": "fake-embed", "input": QUESTION})
            embeds.append(time.perf_counter() - began)
    writes, reopens, recalls = [], [], []
    database = yaml.safe_load(config.read_text())["mongodb"]["database"]
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongodb_url)
    with client:
        jamies = client[database]
        conversation = jamies.conversations.find_one({"user": "ana"})
        assert conversation is not None
        history = {"user": "ana", "conversation_id": conversation["_id"]}
        exchanges = {"user": "ana", "role": "assistant", "embedding": {"$exists": True}}
        for _ in range(10):
            began = time.perf_counter()
            list(jamies.messages.find(history, {"embedding": 0}).sort("seq", 1))
            reopens.append(time.perf_counter() - began)
            began = time.perf_counter()
            list(jamies.messages.find(exchanges).sort("created_at", -1).limit(2000))
            recalls.append(time.perf_counter() - began)
        db = client[f"bench_{secrets.token_hex(3)}"]
        inserted = db.conversations.insert_one({"user": "ana", "message_count": 0})
        for _ in range(20):
            began = time.perf_counter()
            db.conversations.find_one_and_update(
                {"_id": inserted.inserted_id}, {"$inc": {"message_count": 2}}
            )
            asked = {"user": "ana", "role": "user", "content": QUESTION}
            reply = {"user": "ana", "role": "assistant", "content": ANSWER, "embedding": _vector(1)}
            db.messages.insert_many([asked, reply])
            writes.append(time.perf_counter() - began)
        client.drop_database(db.name)
    return {
        "scrypt_verify_median_ms": _ms(statistics.median(scrypt)),
        "fake_model_embed_round_trip_median_ms": _ms(statistics.median(embeds)),
        "ferretdb_exchange_writes_median_ms": _ms(statistics.median(writes)),
        "messages_in_the_conversation": conversation["message_count"],
        "ferretdb_reopen_read_median_ms": _ms(statistics.median(reopens)),
        "ferretdb_recall_read_median_ms": _ms(statistics.median(recalls)),
    }


def _vector(hot: int) -> list[float]:
    return [1.0 if i == hot else 0.0 for i in range(DIM)]


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": _ms(statistics.median(ordered)), "p95_ms": _ms(p95)}


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
