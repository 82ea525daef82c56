"""A FAKE Ollama server for tests: a real HTTP server on loopback that plays a script.

No model can run here, so tests script what "the model" says. The fake speaks Ollama's
documented wire format (`/api/chat` streaming as NDJSON or not, with `tool_calls` whose
arguments are objects; `/api/embed`, `/api/tags`, `/api/show`), so the real `ollama` client
and our model loop run unchanged; with a real Ollama URL the same code paths run for real.

Each request must match the next scripted step (method, path, and an optional check that
asserts on the request body); it then gets that step's reply. An unexpected or mismatching
request is answered with HTTP 500 and recorded; `verify()` fails the test with every recorded
problem and every step that was never requested.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer

Check = Callable[[dict[str, Any]], None]
MODEL = "fake-model:latest"


@dataclass
class Reply:
    """What the fake model says to one chat request: text, tool calls, or both."""

    content: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    delay: float = 0.0
    pieces: int = 3
    gap: float = 0.0  # seconds between pieces, so a stream can be watched arriving
    garbage: str | None = None  # sent as the whole body instead: a model server gone wrong

    def message(self, content: str, with_calls: bool) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if with_calls and self.tool_calls:
            message["tool_calls"] = [
                {"function": {"name": name, "arguments": arguments}}
                for name, arguments in self.tool_calls
            ]
        return message


def say(content: str) -> Reply:
    return Reply(content=content)


def call(*calls: tuple[str, dict[str, Any]], content: str = "") -> Reply:
    return Reply(content=content, tool_calls=list(calls))


@dataclass
class _Step:
    method: str
    path: str
    reply: Reply | dict[str, Any]
    check: Check | None


@dataclass
class Received:
    method: str
    path: str
    body: dict[str, Any]


class FakeOllama:
    """Start with `with FakeOllama() as fake:`; script with `expect_*`; then `verify()`."""

    def __init__(self, model: str = MODEL) -> None:
        self.model = model
        self.received: list[Received] = []
        self.problems: list[str] = []
        self._script: list[_Step] = []
        self._standing: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        self._http = LoopbackServer(app, "fake Ollama")
        self.url = self._http.url

    def __enter__(self) -> FakeOllama:
        self._http.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._http.stop()

    def expect_chat(self, reply: Reply, check: Check | None = None) -> None:
        self._add(_Step("POST", "/api/chat", reply, check))

    def expect_embed(self, embeddings: list[list[float]], check: Check | None = None) -> None:
        body = {
            "model": self.model,
            "embeddings": embeddings,
            "total_duration": 14_143_917,
            "load_duration": 1_019_500,
            "prompt_eval_count": 8,
        }
        self._add(_Step("POST", "/api/embed", body, check))

    def expect_tags(self) -> None:
        self._add(_Step("GET", "/api/tags", self._tags(), None))

    def always_answer_tags(self) -> None:
        """Answer every model listing, outside the script: for services that poll it."""
        self._standing[("GET", "/api/tags")] = self._tags()

    def _tags(self) -> dict[str, Any]:
        model = {
            "name": self.model,
            "model": self.model,
            "modified_at": _now(),
            "size": 1_000_000,
            "digest": "0" * 64,
            "details": _details(),
        }
        return {"models": [model]}

    def expect_show(self, context_length: int = 8192, check: Check | None = None) -> None:
        body = {
            "modelfile": f"# fake\nFROM {self.model}\n",
            "parameters": f"num_ctx {context_length}",
            "template": "{{ .Prompt }}",
            "details": _details(),
            "model_info": {
                "general.architecture": "fake",
                "general.parameter_count": 1_000_000,
                "fake.context_length": context_length,
            },
            "capabilities": ["completion", "tools"],
            "modified_at": _now(),
        }
        self._add(_Step("POST", "/api/show", body, check))

    def chat_bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.received if r.path == "/api/chat"]

    def verify(self) -> None:
        """Fail with every unexpected request and every scripted step nobody asked for."""
        with self._lock:
            problems = list(self.problems)
            problems += [f"expected {s.method} {s.path} was never requested" for s in self._script]
        if problems:
            raise AssertionError("fake Ollama: " + "; ".join(problems))

    def _add(self, step: _Step) -> None:
        with self._lock:
            self._script.append(step)

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"unparsed": raw.decode(errors="replace")}
        standing = self._standing.get((request.method, path))
        if standing is not None:
            return JSONResponse(standing)
        with self._lock:
            self.received.append(Received(request.method, path, body))
            step = self._script[0] if self._script else None
            problem = _mismatch(step, request.method, path, body)
            if problem is None:
                self._script.pop(0)
            else:
                self.problems.append(problem)
        if problem is not None or step is None:
            return JSONResponse({"error": f"fake ollama: {problem}"}, status_code=500)
        if isinstance(step.reply, dict):
            return JSONResponse(step.reply)
        return await self._chat(step.reply, body)

    async def _chat(self, reply: Reply, body: dict[str, Any]) -> Response:
        await asyncio.sleep(reply.delay)
        prompt_tokens = len(json.dumps(body.get("messages", []))) // 4
        final = {
            "model": self.model,
            "created_at": _now(),
            "done": True,
            "done_reason": "stop",
            "total_duration": 5_191_566_416,
            "load_duration": 2_154_458,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 383_809_000,
            "eval_count": max(1, len(reply.content) // 4),
            "eval_duration": 4_799_921_000,
        }
        if reply.garbage is not None:
            return Response(reply.garbage, media_type="application/x-ndjson")
        if not body.get("stream", True):
            return JSONResponse({**final, "message": reply.message(reply.content, True)})

        async def lines() -> AsyncIterator[bytes]:
            for piece in _pieces(reply.content, reply.pieces):
                yield self._chunk(reply.message(piece, False))
                await asyncio.sleep(reply.gap)
            if reply.tool_calls:
                yield self._chunk(reply.message("", True))
            yield _line({**final, "message": {"role": "assistant", "content": ""}})

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    def _chunk(self, message: dict[str, Any]) -> bytes:
        return _line({"model": self.model, "created_at": _now(), "message": message, "done": False})


def _mismatch(step: _Step | None, method: str, path: str, body: dict[str, Any]) -> str | None:
    seen = f"{method} {path} {json.dumps(body)[:300]}"
    if step is None:
        return f"unexpected request (script finished): {seen}"
    if (step.method, step.path) != (method, path):
        return f"unexpected request {seen}; expected {step.method} {step.path}"
    if step.check is not None:
        try:
            step.check(body)
        except AssertionError as exc:
            return f"{method} {path} did not match the script: {exc or 'assertion failed'}"
    return None


def _pieces(text: str, count: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, count)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj) + "\n").encode()


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _details() -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": "fake",
        "families": ["fake"],
        "parameter_size": "1M",
        "quantization_level": "Q4_0",
    }


@pytest.fixture(name="fake_ollama")
def fake_ollama_server() -> Iterator[FakeOllama]:
    """A started fake; at teardown, any unexpected or missing request fails the test."""
    with FakeOllama() as fake:
        yield fake
    fake.verify()
