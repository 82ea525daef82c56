"""The fake Ollama server speaks the documented wire format to the real `ollama` client, and
fails a test on any request the script did not expect."""

from __future__ import annotations

import re
from typing import Any

import pytest
from ollama import AsyncClient, ResponseError

from tests.fakes.fake_ollama import (
    FakeOllama,
    call,
    fake_ollama_server,  # noqa: F401 (registers the fake_ollama fixture)
    say,
)


def wants_model(body: dict[str, Any]) -> None:
    assert body["model"] == "fake-model:latest"


async def test_streaming_chat_with_text_and_tool_calls(fake_ollama: FakeOllama) -> None:
    fake_ollama.expect_chat(
        call(("get_weather", {"city": "Paris", "days": 2}), content="Let me look."), wants_model
    )
    client = AsyncClient(host=fake_ollama.url)
    chunks = [
        chunk
        async for chunk in await client.chat(
            "fake-model:latest", [{"role": "user", "content": "weather?"}], stream=True
        )
    ]
    text = "".join(chunk.message.content or "" for chunk in chunks)
    calls = [c for chunk in chunks for c in chunk.message.tool_calls or []]
    assert text == "Let me look." and len(chunks) == 5
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris", "days": 2})
    ]
    assert [chunk.done for chunk in chunks] == [False, False, False, False, True]
    assert chunks[-1].done_reason == "stop" and (chunks[-1].prompt_eval_count or 0) > 0


async def test_non_streaming_chat_embed_tags_and_show(fake_ollama: FakeOllama) -> None:
    fake_ollama.expect_tags()
    fake_ollama.expect_show(context_length=32768)
    fake_ollama.expect_chat(say("All quiet."), lambda body: _assert(body["stream"] is False))
    fake_ollama.expect_chat(call(("a", {"n": 1}), ("b", {})))
    fake_ollama.expect_embed(
        [[0.1, 0.2], [0.3, 0.4]], lambda body: _assert(len(body["input"]) == 2)
    )
    client = AsyncClient(host=fake_ollama.url)
    tags = await client.list()
    assert [m.model for m in tags.models] == ["fake-model:latest"]
    shown = await client.show("fake-model:latest")
    assert shown.modelinfo is not None and shown.modelinfo["fake.context_length"] == 32768
    assert shown.capabilities == ["completion", "tools"]
    answer = await client.chat("fake-model:latest", [{"role": "user", "content": "hi"}])
    assert answer.message.content == "All quiet." and answer.done
    calls = (await client.chat("fake-model:latest", [{"role": "user", "content": "go"}])).message
    assert [(c.function.name, c.function.arguments) for c in calls.tool_calls or []] == [
        ("a", {"n": 1}),
        ("b", {}),
    ]
    embedded = await client.embed("fake-model:latest", ["a", "b"])
    assert [list(v) for v in embedded.embeddings] == [[0.1, 0.2], [0.3, 0.4]]


def _assert(condition: bool) -> None:
    assert condition


async def test_an_unexpected_request_fails_the_test() -> None:
    with FakeOllama() as fake:
        client = AsyncClient(host=fake.url)
        with pytest.raises(ResponseError, match="unexpected request"):
            await client.chat("fake-model:latest", [{"role": "user", "content": "hi"}])
    with pytest.raises(
        AssertionError, match=re.escape("unexpected request (script finished): POST")
    ):
        fake.verify()


async def test_a_request_that_fails_its_check_or_never_comes_fails_the_test() -> None:
    with FakeOllama() as fake:
        fake.expect_chat(say("x"), lambda body: _assert(body["model"] == "other"))
        fake.expect_tags()
        client = AsyncClient(host=fake.url)
        with pytest.raises(ResponseError, match="did not match the script"):
            await client.chat("fake-model:latest", [{"role": "user", "content": "hi"}])
    with pytest.raises(AssertionError) as failure:
        fake.verify()
    message = str(failure.value)
    assert "POST /api/chat did not match the script" in message
    assert "expected POST /api/chat was never requested" in message
    assert "expected GET /api/tags was never requested" in message
