"""The model loop with a scripted fake Ollama and real MCP servers: the Prometheus server over
HTTP, and the Kubernetes server over stdio with a policy that allows `scale` in one namespace of
the local control plane."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ollama import AsyncClient

from autodevops.clients.core.approval import ApprovalDecision, ApprovalRequest, Approver
from autodevops.clients.core.budget import REMOVED, Budgets
from autodevops.clients.core.endpoints import HttpEndpoint, StdioEndpoint
from autodevops.clients.core.events import (
    BudgetNotice,
    Event,
    FinalAnswer,
    Notice,
    StepStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    to_dict,
)
from autodevops.clients.core.loop import (
    ANNOUNCED_CALL,
    EMPTY_REPLY,
    HOW_TO_CALL,
    LoopSettings,
    ModelLoop,
)
from autodevops.clients.core.pool import McpPool
from devstack.base import free_port
from devstack.services import audit_lines, cli
from tests.conftest import TOKENS
from tests.fakes.fake_ollama import (
    MODEL,
    FakeOllama,
    Reply,
    call,
    fake_ollama_server,  # noqa: F401 (registers the fake_ollama fixture)
    say,
)

LOOP_NS = "sc-loop"
# One read tool and one write tool: the write may only scale this namespace's Deployments.
KUBE_POLICY = {
    "server": "kubernetes",
    "stdio_role": "operator",
    "roles": {
        "operator": {
            "tools": ["get_resource", "scale"],
            "scope": {
                "namespaces": {"allow": [LOOP_NS]},
                "kinds": {"allow": ["apps/Deployment"]},
                "verbs": ["get", "patch"],
            },
        }
    },
}


def _deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": LOOP_NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": {"type": "kwok"},
                    "containers": [{"name": "app", "image": f"{name}:1"}],
                },
            },
        },
    }


# Applied before each test: the namespace, and both Deployments back at one replica.
MANIFEST = yaml.safe_dump_all(
    [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LOOP_NS}},
        _deployment("web"),
        _deployment("db"),
    ]
)
QUEUE = {"query": "sum(autodevops_test_queue_depth)"}
QUESTION = [
    {"role": "system", "content": "You are an operations assistant."},
    {"role": "user", "content": "How deep are the queues?"},
]


@pytest.fixture(scope="module")
def cluster(kube: Any) -> Iterator[Any]:
    yield kube
    kube.kubectl("delete", "namespace", LOOP_NS, "--wait=false")


class Servers:
    def __init__(self, prometheus_server: Any, kube: Any, workdir: Path) -> None:
        self.prometheus = prometheus_server
        self.kube = kube
        self.kube_policy = workdir / "kubernetes-policy.yaml"
        self.kube_policy.write_text(yaml.safe_dump(KUBE_POLICY), encoding="utf-8")
        self.kube_audit = workdir / "kubernetes-audit.jsonl"

    def endpoints(self) -> list[HttpEndpoint | StdioEndpoint]:
        command, *args = cli()
        serve = ("serve", "kubernetes", "--kubeconfig", str(self.kube.kubeconfig))
        files = ("--policy", str(self.kube_policy), "--audit-log", str(self.kube_audit))
        return [
            HttpEndpoint("prom", self.prometheus.mcp_url, TOKENS["viewer"]),
            StdioEndpoint("kube", command, (*args, *serve, *files)),
        ]

    def prometheus_calls(self, tool: str) -> int:
        return sum(1 for line in audit_lines(self.prometheus.audit_log) if line["tool"] == tool)

    def kube_calls(self) -> list[tuple[str, dict[str, Any], str]]:
        """What the Kubernetes server audited: tool, arguments and decision of each call."""
        if not self.kube_audit.exists():
            return []
        lines = audit_lines(self.kube_audit)
        return [(line["tool"], line["arguments"], line["decision"]) for line in lines]

    def replicas(self, name: str) -> int:
        """What the API server holds, whatever any tool answered."""
        path = f"/apis/apps/v1/namespaces/{LOOP_NS}/deployments/{name}"
        replicas: int = self.kube.request("GET", path)["spec"]["replicas"]
        return replicas


@pytest.fixture
def servers(prometheus: Any, cluster: Any, start_http_server: Any, tmp_path: Path) -> Servers:
    cluster.kubectl("apply", "-f", "-", input=MANIFEST)
    return Servers(start_http_server(prometheus.url), cluster, tmp_path)


@pytest.fixture
async def pool(servers: Servers) -> AsyncIterator[McpPool]:
    async with McpPool(servers.endpoints()) as pool:
        yield pool


def loop_for(
    fake: FakeOllama, pool: McpPool, approver: Approver | None = None, **budgets: Any
) -> ModelLoop:
    settings = LoopSettings(MODEL, Budgets(**budgets), options={"temperature": 0})
    return ModelLoop(AsyncClient(host=fake.url), pool, settings, approver=approver)


async def run(loop: ModelLoop, messages: list[dict[str, Any]] = QUESTION) -> list[Event]:
    return [event async for event in loop.run(messages)]


def finished(events: list[Event]) -> list[ToolCallFinished]:
    return [e for e in events if isinstance(e, ToolCallFinished)]


def final(events: list[Event]) -> FinalAnswer:
    last = events[-1]
    assert isinstance(last, FinalAnswer)
    assert sum(isinstance(e, FinalAnswer) for e in events) == 1
    return last


async def test_several_calls_in_one_step_are_answered_in_order(
    fake_ollama: FakeOllama, pool: McpPool, servers: Servers
) -> None:
    fake_ollama.expect_chat(call(("prom__query", QUEUE), ("prom__label_values", {"label": "job"})))
    fake_ollama.expect_chat(say("The queues hold 10 items in total."))
    events = await run(loop_for(fake_ollama, pool, num_ctx=8192))

    first, second = fake_ollama.chat_bodies()
    assert first["model"] == MODEL and first["stream"] is True
    assert first["options"] == {"temperature": 0, "num_ctx": 8192}
    offered = {tool["function"]["name"] for tool in first["tools"]}
    assert {"prom__query", "prom__query_range", "kube__scale", "kube__get_resource"} <= offered
    assert len(offered) == 12
    query_tool = next(t for t in first["tools"] if t["function"]["name"] == "prom__query")
    assert query_tool["function"]["parameters"]["properties"]["time"]["type"] == "string"
    assert query_tool["function"]["parameters"]["required"] == ["query"]
    assert second["messages"][:2] == QUESTION
    assistant, query, jobs = second["messages"][2:]
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == [
        "prom__query",
        "prom__label_values",
    ]
    assert query["role"] == "tool" and query["tool_name"] == "prom__query"
    assert query["content"].splitlines()[1].split() == ["{}", "10"]
    assert jobs["tool_name"] == "prom__label_values"
    assert jobs["content"].splitlines()[1:] == ["exporter", "prometheus"]

    answer = final(events)
    assert answer.text == "The queues hold 10 items in total."
    assert (answer.stop_reason, answer.steps, answer.tool_calls) == ("answer", 2, 2)
    assert [(c.tool, c.outcome, c.approved_by) for c in finished(events)] == [
        ("prom__query", "ok", None),
        ("prom__label_values", "ok", None),
    ]


async def test_events_stream_every_step_in_order(fake_ollama: FakeOllama, pool: McpPool) -> None:
    fake_ollama.expect_chat(call(("prom__query", QUEUE), content="Checking the queues."))
    fake_ollama.expect_chat(Reply(content="Ten items wait.", pieces=2))
    events = await run(loop_for(fake_ollama, pool))
    assert [e.kind for e in events] == [
        "step_started",
        "text",
        "text",
        "text",
        "tool_call_started",
        "tool_call_finished",
        "step_started",
        "text",
        "text",
        "final",
    ]
    steps = [e for e in events if isinstance(e, StepStarted)]
    assert [(s.step, s.tools_offered) for s in steps] == [(1, 12), (2, 12)]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert "".join(d.text for d in deltas if d.step == 1) == "Checking the queues."
    assert "".join(d.text for d in deltas if d.step == 2) == final(events).text
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    assert (started.step, started.index, started.tool, started.arguments) == (
        1,
        0,
        "prom__query",
        QUEUE,
    )
    json.dumps([to_dict(e) for e in events])  # ready for server-sent events
    assert to_dict(events[-1])["kind"] == "final"


async def test_the_same_call_is_not_run_twice(
    fake_ollama: FakeOllama, pool: McpPool, servers: Servers
) -> None:
    fake_ollama.expect_chat(call(("prom__query", QUEUE)))
    fake_ollama.expect_chat(call(("prom__query", dict(reversed(QUEUE.items())))))
    fake_ollama.expect_chat(say("Done."))
    events = await run(loop_for(fake_ollama, pool))
    outcomes = [(c.step, c.outcome) for c in finished(events)]
    assert outcomes == [(1, "ok"), (2, "repeated")]
    repeated = finished(events)[1].text
    assert repeated.startswith("Not run again: you already called prom__query")
    assert fake_ollama.chat_bodies()[2]["messages"][-1] == {
        "role": "tool",
        "content": repeated,
        "tool_name": "prom__query",
    }
    assert servers.prometheus_calls("query") == 1
    assert final(events).tool_calls == 1


async def test_a_tool_that_does_not_exist_is_explained_and_a_bare_name_is_resolved(
    fake_ollama: FakeOllama, pool: McpPool
) -> None:
    fake_ollama.expect_chat(call(("prom__frobnicate", {"x": 1}), ("query", QUEUE)))
    fake_ollama.expect_chat(say("Ten."))
    events = await run(loop_for(fake_ollama, pool))
    unknown, resolved = finished(events)
    assert unknown.outcome == "unknown_tool"
    assert unknown.text.startswith("There is no tool named 'prom__frobnicate'. Use one of")
    assert "prom__query, prom__query_range" in unknown.text
    assert resolved.outcome == "ok" and resolved.text.splitlines()[1].split() == ["{}", "10"]
    assert final(events).text == "Ten."


async def test_tool_calls_written_as_text_are_run_or_explained(
    fake_ollama: FakeOllama, pool: McpPool
) -> None:
    fake_ollama.expect_chat(say('{"name": "prom__query", "arguments": {"query": '))
    written = json.dumps({"name": "prom__query", "arguments": QUEUE})
    fake_ollama.expect_chat(say(f"I will check.\n```json\n{written}\n```"))
    fake_ollama.expect_chat(say("Ten items."))
    events = await run(loop_for(fake_ollama, pool))

    notices = [(n.step, n.reason) for n in events if isinstance(n, Notice)]
    assert notices == [(1, "unusable_reply"), (2, "text_tool_call")]
    _, second, third = fake_ollama.chat_bodies()
    assert second["messages"][-1] == {"role": "user", "content": HOW_TO_CALL}
    assistant, result = third["messages"][-2:]
    assert assistant["content"] == "I will check."
    assert assistant["tool_calls"] == [{"function": {"name": "prom__query", "arguments": QUEUE}}]
    assert result["tool_name"] == "prom__query" and result["content"].endswith("10")
    assert [c.outcome for c in finished(events)] == ["ok"]
    assert final(events).text == "Ten items."


async def test_a_call_announced_but_not_made_gets_one_reminder(
    fake_ollama: FakeOllama, pool: McpPool, servers: Servers
) -> None:
    announce = "To see the queues I will use prom__query with the following arguments:"
    fake_ollama.expect_chat(say(announce))
    fake_ollama.expect_chat(call(("prom__query", QUEUE)))
    fake_ollama.expect_chat(say("Let me call prom__query once more to be sure."))
    events = await run(loop_for(fake_ollama, pool))

    reminder = ANNOUNCED_CALL.format(tool="prom__query")
    assert [(n.step, n.reason) for n in events if isinstance(n, Notice)] == [(1, "announced_call")]
    assert fake_ollama.chat_bodies()[1]["messages"][-2:] == [
        {"role": "assistant", "content": announce},
        {"role": "user", "content": reminder},
    ]
    assert [(c.step, c.outcome) for c in finished(events)] == [(2, "ok")]
    assert servers.prometheus_calls("query") == 1
    # Reminded once per run: announcing again is taken as the answer, so it cannot loop.
    answer = final(events)
    assert (answer.text, answer.stop_reason, answer.steps) == (
        "Let me call prom__query once more to be sure.",
        "answer",
        3,
    )


async def test_an_empty_reply_gets_a_hint_and_an_answer_without_tools_ends_the_run(
    fake_ollama: FakeOllama, pool: McpPool
) -> None:
    fake_ollama.expect_chat(say(""))
    fake_ollama.expect_chat(say("Nothing needs a tool here."))
    events = await run(loop_for(fake_ollama, pool))
    assert fake_ollama.chat_bodies()[1]["messages"][-1] == {"role": "user", "content": EMPTY_REPLY}
    answer = final(events)
    assert (answer.text, answer.stop_reason, answer.steps, answer.tool_calls) == (
        "Nothing needs a tool here.",
        "answer",
        2,
        0,
    )
    assert not finished(events)


async def test_the_last_step_offers_no_tools_and_gets_the_answer(
    fake_ollama: FakeOllama, pool: McpPool
) -> None:
    fake_ollama.expect_chat(call(("prom__query", QUEUE)))
    fake_ollama.expect_chat(
        Reply(content="Ten items so far.", tool_calls=[("prom__alerts", {})]),
        lambda body: _assert(body.get("tools") in (None, [])),
    )
    events = await run(loop_for(fake_ollama, pool, max_steps=2))
    last_request = fake_ollama.chat_bodies()[1]["messages"][-1]
    assert last_request["role"] == "user"
    assert last_request["content"].startswith("This is the last step you are allowed.")
    notices = [(b.step, b.budget) for b in events if isinstance(b, BudgetNotice)]
    assert notices == [(2, "steps")]
    assert [s.tools_offered for s in events if isinstance(s, StepStarted)] == [12, 0]
    assert len(finished(events)) == 1, "a call made on the last step is not run"
    answer = final(events)
    assert (answer.text, answer.stop_reason, answer.steps) == ("Ten items so far.", "steps", 2)


def _assert(condition: bool) -> None:
    assert condition


async def test_an_oversized_result_is_cut_with_a_notice(
    fake_ollama: FakeOllama, pool: McpPool
) -> None:
    fake_ollama.expect_chat(call(("prom__query", {"query": "autodevops_test_requests_total"})))
    fake_ollama.expect_chat(say("Six series."))
    budgets = Budgets(num_ctx=4096, result_share=0.04)
    events = await run(loop_for(fake_ollama, pool, num_ctx=4096, result_share=0.04))
    (result,) = finished(events)
    assert result.outcome == "ok" and result.cut
    assert len(result.text) <= budgets.result_chars == 573
    assert result.text.endswith(
        "Narrow the request (a filter, a smaller time range, an aggregation) to see the rest.]"
    )
    assert "[cut by the client: this result has " in result.text
    sent = fake_ollama.chat_bodies()[1]["messages"][-1]["content"]
    assert sent == result.text


async def test_a_write_without_an_approver_is_refused_and_never_runs(
    fake_ollama: FakeOllama, pool: McpPool, servers: Servers
) -> None:
    scale = (
        "kube__scale",
        {"kind": "Deployment", "name": "web", "namespace": LOOP_NS, "replicas": 3},
    )
    read = ("kube__get_resource", {"kind": "Deployment", "name": "web", "namespace": LOOP_NS})
    fake_ollama.expect_chat(call(scale, read))
    fake_ollama.expect_chat(say(f"I would scale {LOOP_NS}/web to 3; it needs approval."))
    events = await run(loop_for(fake_ollama, pool))
    refused, got = finished(events)
    assert refused.outcome == "refused" and refused.approved_by is None
    assert refused.text.startswith("Refused: kube__scale can change the system")
    assert got.outcome == "ok" and got.text.startswith("kind: Deployment")
    assert "replicas: 1" in got.text
    assert servers.replicas("web") == 1, "the API server never saw the write"
    assert servers.kube_calls() == [("get_resource", read[1], "allow")]


async def test_an_approver_decides_on_writes(
    fake_ollama: FakeOllama, pool: McpPool, servers: Servers
) -> None:
    asked: list[ApprovalRequest] = []

    async def approver(request: ApprovalRequest) -> ApprovalDecision:
        asked.append(request)
        if request.arguments["name"] == "web":
            return ApprovalDecision(True, "alice")
        return ApprovalDecision(False, "bob", "not during business hours")

    web = (
        "kube__scale",
        {"kind": "Deployment", "name": "web", "namespace": LOOP_NS, "replicas": 2},
    )
    db = ("kube__scale", {"kind": "Deployment", "name": "db", "namespace": LOOP_NS, "replicas": 0})
    fake_ollama.expect_chat(call(web, db))
    fake_ollama.expect_chat(say("Scaled web; db was refused."))
    events = await run(loop_for(fake_ollama, pool, approver=approver))
    approved, rejected = finished(events)
    assert (approved.outcome, approved.approved_by) == ("ok", "alice")
    assert approved.text == f"Deployment {LOOP_NS}/web scaled to 2 replicas (currently 1 running)"
    assert rejected.outcome == "refused"
    assert rejected.text == (
        "Refused by bob: not during business hours. kube__scale was not run; do not retry it."
    )
    assert [(r.tool.name, r.step, r.tool.read_only) for r in asked] == [
        ("kube__scale", 1, False),
        ("kube__scale", 1, False),
    ]
    assert (servers.replicas("web"), servers.replicas("db")) == (2, 1)
    assert servers.kube_calls() == [("scale", web[1], "allow")]


async def test_time_waiting_for_an_approver_is_not_taken_from_the_budget(
    fake_ollama: FakeOllama, pool: McpPool, servers: Servers
) -> None:
    async def slow_person(request: ApprovalRequest) -> ApprovalDecision:
        await asyncio.sleep(3)
        return ApprovalDecision(True, "alice")

    web = {"kind": "Deployment", "name": "web", "namespace": LOOP_NS, "replicas": 2}
    fake_ollama.expect_chat(call(("kube__scale", web)))

    def tools_still_offered(body: dict[str, Any]) -> None:
        assert body.get("tools"), "the wait made this a forced last step"

    fake_ollama.expect_chat(say("Scaled web to 2."), check=tools_still_offered)
    events = await run(loop_for(fake_ollama, pool, approver=slow_person, max_seconds=2.0))
    (approved,) = finished(events)
    assert (approved.outcome, approved.approved_by) == ("ok", "alice")
    final = events[-1]
    assert isinstance(final, FinalAnswer)
    assert (final.stop_reason, final.text) == ("answer", "Scaled web to 2.")
    assert final.seconds >= 3, "the answer's seconds are the real time, the wait included"
    assert not [e for e in events if isinstance(e, BudgetNotice)]


async def test_an_approved_write_outside_the_policy_is_still_refused_by_the_server(
    fake_ollama: FakeOllama, pool: McpPool, servers: Servers
) -> None:
    async def approve_all(request: ApprovalRequest) -> ApprovalDecision:
        return ApprovalDecision(True, "alice")

    elsewhere = {"kind": "Deployment", "name": "web", "namespace": "team-a", "replicas": 5}
    fake_ollama.expect_chat(call(("kube__scale", elsewhere)))
    fake_ollama.expect_chat(say("The server refused it."))
    events = await run(loop_for(fake_ollama, pool, approver=approve_all))
    (refused,) = finished(events)
    assert (refused.outcome, refused.approved_by) == ("error", "alice")
    assert "namespace 'team-a' is outside your scope" in refused.text
    assert servers.kube_calls() == [("scale", elsewhere, "deny")]


async def test_a_slow_model_hits_the_time_budget(fake_ollama: FakeOllama, pool: McpPool) -> None:
    fake_ollama.expect_chat(Reply(content="thinking", delay=5))
    fake_ollama.expect_chat(say("Out of time: nothing checked."))
    events = await run(loop_for(fake_ollama, pool, max_seconds=4.0, answer_seconds=1.0))
    assert [(b.step, b.budget) for b in events if isinstance(b, BudgetNotice)] == [(2, "time")]
    answer = final(events)
    assert (answer.text, answer.stop_reason) == ("Out of time: nothing checked.", "time")
    assert 2.9 < answer.seconds < 4.5, "the first step keeps 1 s back for the answer"


async def test_a_long_conversation_gets_a_last_step_and_old_results_removed(
    fake_ollama: FakeOllama, pool: McpPool
) -> None:
    earlier: list[dict[str, Any]] = [
        *QUESTION,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "prom__query", "arguments": QUEUE}}],
        },
        {"role": "tool", "content": "x" * 12_000, "tool_name": "prom__query"},
        {"role": "user", "content": "And now?"},
    ]

    def compacted(body: dict[str, Any]) -> None:
        assert body["messages"][3]["content"] == REMOVED
        assert body.get("tools") in (None, [])

    fake_ollama.expect_chat(say("Still ten."), compacted)
    events = await run(loop_for(fake_ollama, pool, num_ctx=4096), earlier)
    assert [(b.step, b.budget) for b in events if isinstance(b, BudgetNotice)] == [(1, "context")]
    assert final(events).stop_reason == "context"


async def test_an_unreachable_model_and_a_down_server_end_the_run_cleanly(
    servers: Servers,
) -> None:
    endpoints = [
        *servers.endpoints()[:1],
        HttpEndpoint("gone", f"http://127.0.0.1:{free_port()}/mcp"),
    ]
    async with McpPool(endpoints) as pool:
        settings = LoopSettings(MODEL)
        loop = ModelLoop(AsyncClient(host=f"http://127.0.0.1:{free_port()}"), pool, settings)
        events = await run(loop)
    notices = [(n.step, n.reason) for n in events if isinstance(n, Notice)]
    assert notices == [(0, "servers_down"), (1, "model_error")]
    down, model_error = (n for n in events if isinstance(n, Notice))
    assert down.message.startswith("tools unavailable from gone: cannot reach http://127.0.0.1:")
    assert model_error.message == (
        f"Ollama failed for model {MODEL}: ConnectError: All connection attempts failed"
    )
    answer = final(events)
    assert answer.stop_reason == "model_error"
    assert answer.text == "No answer: the run stopped (model_error) before the model answered."


async def test_garbage_from_the_model_server_ends_the_run_with_the_reason(
    fake_ollama: FakeOllama, pool: McpPool
) -> None:
    fake_ollama.expect_chat(Reply(garbage='{"model": "fake-model:latest", "message": {"ro'))
    events = await run(loop_for(fake_ollama, pool))
    (notice,) = (n for n in events if isinstance(n, Notice))
    assert notice.reason == "model_error"
    assert notice.message.startswith(f"Ollama failed for model {MODEL}: JSONDecodeError:")
    assert final(events).stop_reason == "model_error"


async def test_a_call_to_a_down_server_tells_the_model_why(
    fake_ollama: FakeOllama, servers: Servers
) -> None:
    gone = HttpEndpoint("gone", f"http://127.0.0.1:{free_port()}/mcp", TOKENS["viewer"])
    fake_ollama.expect_chat(call(("gone__query", QUEUE), ("prom__query", QUEUE)))
    fake_ollama.expect_chat(say("Prometheus says ten; the other server is down."))
    async with McpPool([*servers.endpoints()[:1], gone]) as pool:
        events = await run(loop_for(fake_ollama, pool))
    down, answered = finished(events)
    assert down.outcome == "unavailable"
    assert down.text.startswith("MCP server gone is unavailable: cannot reach http://127.0.0.1:")
    assert answered.outcome == "ok"
    assert final(events).text == "Prometheus says ten; the other server is down."
