"""A Jamie turn with the real model: Ollama built by the local stack, Qwen2.5-Coder-1.5B on the
CPU, all-MiniLM-L6-v2 for memory, a Prometheus MCP server offering two tools.

Measured: the model alone (time to first token, prompt and generation tokens per second, from
Ollama's own counters), a Jamie turn that calls one tool (to the first `text` event, to the
tool call, to `done`), the embedding of one text, and the memory of Ollama's processes (the
server and its model runner). Jamie's own share of a turn is the fake-model turn of
`jamie_turn.py` (everything but the model) over this one. Run: `make bench` (`model`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from autodevops.clients.jamie.people import hash_password
from bench.jamie_turn import _timed_ask
from devstack import components
from devstack.jamie import PASSWORDS, ROLES, mcp_deployment
from devstack.ollama import OllamaHandle
from devstack.prometheus import start_prometheus

QUESTION = "How many scrape targets are up? Use the query tool with the query up."
PROMPT = "In three sentences, what does a Kubernetes liveness probe do?"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=5)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="autodevops-bench-model-") as workdir:
        work = Path(workdir)
        stack = work / "stack"
        prometheus = start_prometheus(stack / "prometheus")
        try:
            ollama, _ = components.ensure("ollama", stack)
            redis, _ = components.ensure("redis", stack)
            ferretdb, _ = components.ensure("ferretdb", stack)
            assert isinstance(ollama, OllamaHandle)
            report: dict[str, Any] = {"model": ollama.model, "alone": _model_alone(ollama)}
            report["embed_ms"] = _embed_ms(ollama)
            report["jamie_turn"] = _jamie_turns(
                work,
                ollama,
                prometheus.url,
                redis.env()["REDIS_URL"],
                ferretdb.env()["MONGODB_URL"],
                options.turns,
            )
            report["ollama_rss_mb"] = _rss_mb(ollama.proc.pid)
            return report
        finally:
            components.stop_all(stack)
            prometheus.stop()


def _model_alone(ollama: OllamaHandle) -> dict[str, Any]:
    """Ollama's own counters for one short answer, after a first one that loads the model."""
    body = {
        "model": ollama.model,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": False,
        "options": {"num_predict": 96},
    }
    with httpx.Client(base_url=ollama.url, timeout=300) as client:
        began = time.perf_counter()
        client.post("/api/chat", json=body).raise_for_status()
        load = time.perf_counter() - began
        runs = []
        for run in range(3):
            # A new opening each time, so Ollama cannot reuse the last prompt's cache.
            asked = [{"role": "user", "content": f"Question {run + 2}. {PROMPT}"}]
            streamed = body | {"stream": True, "messages": asked}
            began = time.perf_counter()  # before the request: headers come with the first token
            with client.stream("POST", "/api/chat", json=streamed) as response:
                first = None
                last: dict[str, Any] = {}
                for line in response.iter_lines():
                    if first is None:
                        first = time.perf_counter() - began
                    last = json.loads(line)
            runs.append((first or 0.0, last))
    ttft = statistics.median(first for first, _ in runs)
    _, counters = runs[-1]
    prompt, generated = counters["prompt_eval_count"], counters["eval_count"]
    return {
        "first_answer_with_load_s": round(load, 2),
        "time_to_first_token_ms": round(ttft * 1000),
        "prompt_tokens": prompt,
        "generated_tokens": generated,
        "prompt_tokens_per_s": _rate(prompt, counters["prompt_eval_duration"]),
        "generation_tokens_per_s": _rate(generated, counters["eval_duration"]),
    }


def _rate(tokens: int, nanoseconds: int) -> float:
    return round(tokens / nanoseconds * 1e9, 1)


def _embed_ms(ollama: OllamaHandle) -> float:
    with httpx.Client(base_url=ollama.url, timeout=120) as client:
        body = {"model": ollama.embed_model, "input": [PROMPT]}
        client.post("/api/embed", json=body).raise_for_status()
        times = []
        for _ in range(10):
            began = time.perf_counter()
            client.post("/api/embed", json=body).raise_for_status()
            times.append(time.perf_counter() - began)
    return round(statistics.median(times) * 1000, 1)


def _jamie_turns(
    work: Path,
    ollama: OllamaHandle,
    prometheus_url: str,
    redis_url: str,
    mongodb_url: str,
    turns: int,
) -> dict[str, Any]:
    users = [
        {"username": user, "password_hash": hash_password(password), "roles": ROLES[user]}
        for user, password in PASSWORDS.items()
    ]
    (work / "users.yaml").write_text(yaml.safe_dump(users))
    roles = {"viewer": {"tools": ["query", "alerts"]}, "operator": {"tools": ["query", "alerts"]}}
    deployment = mcp_deployment(work, {"prometheus": (roles, ["--prometheus-url", prometheus_url])})
    model = {
        "host": ollama.url,
        "name": ollama.model,
        "embed_name": ollama.embed_model,
        "num_ctx": 8192,
        "max_steps": 4,
        "max_seconds": 900,
        "probe_seconds": 5,
    }
    limits = {"chat_per_minute": 1000}
    jamie = deployment.start("bench", ollama, redis_url, mongodb_url, model=model, limits=limits)
    seen: list[dict[str, float]] = []
    try:
        for index in range(turns + 1):
            conversation = jamie.new_conversation("ben", "Targets")
            marks = _timed_ask(jamie, "ben", conversation, QUESTION)
            if index:  # the first turn opens sessions and loads both models
                seen.append(marks)
    finally:
        jamie.close()
        deployment.stop()

    def median_s(kind: str) -> float | None:
        values = [marks[kind] for marks in seen if kind in marks]
        return round(statistics.median(values), 2) if values else None

    return {
        "turns": turns,
        "turns_with_the_tool_called": sum("tool_call_finished" in marks for marks in seen),
        "to_tool_call_s": median_s("tool_call_started"),
        "to_first_text_s": median_s("text"),
        "to_done_s": median_s("done"),
        "slowest_to_done_s": round(max(marks["done"] for marks in seen), 2),
    }


def _rss_mb(pgid: int) -> dict[str, float]:
    """Current and peak RSS of every process in Ollama's group (server and runner)."""
    now = peak = 0.0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            group = int((status.parent / "stat").read_text().rsplit(")", 1)[1].split()[2])
        except (OSError, ValueError, IndexError):
            continue
        if group != pgid:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        now += int(fields["VmRSS"].split()[0]) / 1024
        peak += int(fields["VmHWM"].split()[0]) / 1024
    return {"rss": round(now), "peak": round(peak)}
