"""Jamie with the real model: Ollama built by the local stack serving Qwen2.5-Coder-1.5B and
all-MiniLM-L6-v2, the real Kubernetes MCP server, Redis and FerretDB. A turn takes seconds to
tens of seconds here, so there are few tests, and they assert what a small model reliably
does (which tool, with which arguments in scope, what was confirmed), never its wording.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest

from devstack.jamie import Jamie, mcp_deployment, write_users
from devstack.ollama import OllamaHandle
from devstack.services import audit_lines, cli
from tests.jamie_harness import CLUSTER, NAMESPACE, replicas, reset_replicas

# A small tool set keeps the prompt short: the model reads every tool's schema each step.
READ_TOOLS = ["list_resources", "describe", "events"]


def real_model_config(ollama: OllamaHandle) -> dict[str, Any]:
    """Jamie's model section for the stack's Ollama: its models, and budgets for a CPU."""
    return {
        "host": ollama.url,
        "name": ollama.model,
        "embed_name": ollama.embed_model,
        "num_ctx": 8192,
        "max_steps": 4,
        "max_seconds": 900,
        "probe_seconds": 5,
    }


@pytest.fixture(scope="module")
def real_jamie(
    kube: Any, redis: Any, ferretdb: Any, ollama: OllamaHandle, tmp_path_factory: Any
) -> Iterator[Jamie]:
    workdir = tmp_path_factory.mktemp("jamie-real")
    kube.kubectl("apply", "-f", "-", input=CLUSTER)
    reset_replicas(kube)
    write_users(workdir)
    scope = {"namespaces": {"allow": [NAMESPACE]}, "verbs": ["get", "list", "patch"]}
    roles = {
        "viewer": {"tools": READ_TOOLS, "scope": scope},
        "operator": {"tools": [*READ_TOOLS, "scale"], "scope": scope},
    }
    deployment = mcp_deployment(
        workdir, {"kubernetes": (roles, ["--kubeconfig", str(kube.kubeconfig)])}, redis_db=15
    )
    jamie = deployment.start(
        "real", ollama, redis.url, ferretdb.url, model=real_model_config(ollama)
    )
    yield jamie
    jamie.close()
    deployment.stop()


def kinds(events: list[tuple[str, dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return [data for seen, data in events if seen == kind]


def told(events: list[tuple[str, dict[str, Any]]]) -> str:
    """What the model wrote, the calls it made and how the turn ended, for a failure message."""
    text = "".join(data["text"] for data in kinds(events, "text"))
    calls = [
        (data["tool"], data["arguments"], data["outcome"], data["text"][:200])
        for data in kinds(events, "tool_call_finished")
    ]
    ends = [(kind, data) for kind, data in events if kind in ("final", "error", "notice")]
    return f"model wrote: {text!r}; calls: {calls}; ended: {ends}"


def test_a_question_is_answered_through_one_read_tool_called_in_scope(
    real_jamie: Jamie,
) -> None:
    """A viewer (read tools only) asks; the call is audited as them with Jamie acting."""
    conversation = real_jamie.new_conversation("ben")
    events = real_jamie.ask("ben", conversation, f"List the pods in the namespace {NAMESPACE}.")
    calls = kinds(events, "tool_call_finished")
    assert calls, told(events)
    first = calls[0]
    assert first["tool"] == "kubernetes__list_resources", calls
    assert first["arguments"].get("namespace") == NAMESPACE
    assert first["outcome"] == "ok" and "web-" in first["text"]
    [final] = kinds(events, "final")
    assert final["stop_reason"] == "answer" and final["text"].strip(), told(events)
    audited = [
        line
        for line in audit_lines(real_jamie.audit_logs["kubernetes"])
        if line["tool"] == "list_resources"
    ]
    assert audited and audited[-1]["subject"] == "ben" and audited[-1]["actor"] == "jamie"
    [done] = kinds(events, "done")
    assert done["notice"] is None, "the exchange is stored with a real embedding"


def test_a_write_waits_for_the_persons_confirmation(real_jamie: Jamie, kube: Any) -> None:
    reset_replicas(kube)
    conversation = real_jamie.new_conversation("ana")
    confirmed: list[int] = []

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "confirm":
            confirmed.append(replicas(kube))
            answer = real_jamie.client("ana").post(
                f"/api/confirmations/{data['id']}", json={"approve": True}
            )
            assert answer.status_code == 200, answer.text

    events = real_jamie.ask(
        "ana",
        conversation,
        f"Scale the deployment web in the namespace {NAMESPACE} to 2 replicas.",
        on_event,
    )
    [confirm] = kinds(events, "confirm")
    assert confirm["tool"] == "kubernetes__scale"
    assert confirm["arguments"]["namespace"] == NAMESPACE
    assert confirm["arguments"]["name"] == "web" and confirm["arguments"]["replicas"] == 2
    assert confirmed == [1], "nothing changed before the person confirmed"
    scaled = [c for c in kinds(events, "tool_call_finished") if c["tool"] == "kubernetes__scale"]
    assert scaled[0]["approved_by"] == "ana" and scaled[0]["outcome"] == "ok"
    assert replicas(kube) == 2
    assert kinds(events, "final")[0]["text"].strip()
    reset_replicas(kube)


def test_memory_is_sized_by_the_embedding_model(
    real_jamie: Jamie, ollama: OllamaHandle, ferretdb: Any
) -> None:
    """The vectors stored are the model's, and the vector index is declared with the length
    the model states (384 for all-MiniLM-L6-v2), never a number assumed here."""
    printed = subprocess.run(
        [*cli(), "jamie", "vector-index", "--config", str(real_jamie.log.with_suffix(".yaml"))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith('db.messages.createSearchIndex("jamie_exchanges"')
    assert '"numDimensions": 384' in printed.stdout
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(ferretdb.url)
    with client:
        messages = client[real_jamie.database]["messages"]
        embedded = messages.find({"embedding_model": ollama.embed_model})
        stored = [doc["embedding"] for doc in embedded]
    assert stored and {len(vector) for vector in stored} == {384}
