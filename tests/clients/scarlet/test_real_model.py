"""Scarlet's model step with the real model: Ollama built by the local stack serving
Qwen2.5-Coder-1.5B, the real MCP servers and PostgreSQL. An Alertmanager alert for a
crash-looping pod must come out as a run whose analyzer finding the model explained, with the
proposed restart still waiting for a person. Asserts what a small model reliably does, never
its wording.
"""

from __future__ import annotations

from collections.abc import Callable

from devstack.ollama import OllamaHandle
from tests.scarlet_harness import NAMESPACE, Scarlet, alert, scarlet_factory

__all__ = ["scarlet_factory"]  # the shared fixture, used here under its own name


def test_the_model_explains_the_crash_loop_finding(
    scarlet_factory: Callable[..., Scarlet], ollama: OllamaHandle
) -> None:
    scarlet = scarlet_factory(
        "real-model",
        model={
            "host": ollama.url,
            "name": ollama.model,
            "num_ctx": 8192,
            "max_steps": 3,
            "max_seconds": 900,
            "probe_seconds": 5,
        },
    )
    response = scarlet.post("/v1/alerts", alert("fp-real-model"))
    assert response.status_code == 202, response.text
    run_id = response.json()["runs"][0]["run"]
    detail = scarlet.wait_run(run_id, {"waiting_approval", "completed", "partial"}, timeout=1200)
    assert detail["status"] == "waiting_approval", detail
    report = detail["report"]
    [crash] = [f for f in report["findings"] if f["analyzer"] == "crashloop"]
    assert "CrashLoopBackOff" in str(crash["evidence"])
    model = report["model"]
    assert model["used"] is True, model
    # On a busy CPU the budget may end the loop: its last step still gives the answer.
    assert model["stop_reason"] in ("answer", "steps", "time"), model
    assert model["answer"].strip() and not model["answer"].startswith("No answer"), model
    for step in detail["steps"]:
        if step["kind"] == "model_tool_call":
            # A call may fail on its own (an object the model guessed); none is out of the
            # catalogue, and what was sent stays in the run's namespace (below).
            assert step["detail"]["outcome"] in ("ok", "error", "refused", "repeated"), step
    for call in detail["tool_calls"]:
        namespace = call["arguments"].get("namespace")
        # An empty namespace (the model's way of asking for all of them, seen in 1 of 4
        # runs) is refused by the server as invalid: nothing outside the run's is read.
        refused_empty = namespace == "" and call["outcome"] != "ok"
        assert namespace in (None, NAMESPACE) or refused_empty, call
    [action] = [a for a in detail["actions"] if a["status"] == "waiting"]
    assert action["tool"] == "kubernetes__rollout_restart"
    reject = scarlet.post(f"/v1/actions/{action['id']}/reject", {"reason": "test"}, who="alice")
    assert reject.status_code == 200, reject.text
