"""Scarlet end to end: real PostgreSQL, the project's real MCP servers over HTTP, the local
control plane, Alertmanager webhooks in, approvals through the API, writes on the cluster."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from devstack.base import free_port
from devstack.services import cli
from tests.scarlet_harness import (
    NAMESPACE,
    Scarlet,
    alert,
    restarted_at,
    restarts,
    scarlet_factory,
    waiting_run,
)

__all__ = ["scarlet_factory"]  # the shared fixture, used here under its own name


@pytest.fixture(scope="module")
def scarlet(scarlet_factory: Callable[..., Scarlet]) -> Scarlet:
    return scarlet_factory("main")


def test_crash_loop_alert_to_an_approved_restart(scarlet: Scarlet, kube: Any) -> None:
    before = restarted_at(kube)
    run_id, detail = waiting_run(scarlet, "fp-approve")
    report = detail["report"]
    crash = [f for f in report["findings"] if f["analyzer"] == "crashloop"]
    assert crash and crash[0]["subject"] == f"Deployment {NAMESPACE}/shop"
    assert crash[0]["evidence"] and "CrashLoopBackOff" in str(crash[0]["evidence"])
    assert report["model"]["used"] is False and "Ollama at" in report["model"]["skipped_reason"]
    [action] = [a for a in detail["actions"] if a["status"] == "waiting"]
    assert action["tool"] == "kubernetes__rollout_restart"
    assert action["arguments"] == {"kind": "Deployment", "name": "shop", "namespace": NAMESPACE}
    assert restarted_at(kube) == before, "nothing is written before approval"

    assert scarlet.post(f"/v1/actions/{action['id']}/approve", {}, who="bob").status_code == 403
    response = scarlet.post(f"/v1/actions/{action['id']}/approve", {"reason": "go"}, who="alice")
    assert response.status_code == 200, response.text
    detail = scarlet.wait_run(run_id, {"completed"})
    [done] = [a for a in detail["actions"] if a["id"] == action["id"]]
    assert done["status"] == "executed" and done["decided_by"] == "alice"
    restart_calls = restarts(detail)
    assert len(restart_calls) == 1 and restart_calls[0]["approved_by"] == "alice"
    assert restarted_at(kube) not in (None, before)
    again = scarlet.post(f"/v1/actions/{action['id']}/approve", {}, who="alice")
    assert again.status_code == 409 and "alice" in again.text


def test_rejected_action_never_runs(scarlet: Scarlet, kube: Any) -> None:
    before = restarted_at(kube)
    run_id, detail = waiting_run(scarlet, "fp-reject")
    [action] = [a for a in detail["actions"] if a["status"] == "waiting"]
    # A bare POST decides: the reason is optional.
    response = httpx.post(
        f"{scarlet.api}/v1/actions/{action['id']}/reject",
        headers={"Authorization": f"Bearer {scarlet.tokens['alice']}"},
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    detail = scarlet.wait_run(run_id, {"completed"})
    assert [a["status"] for a in detail["actions"]] == ["rejected"]
    assert not restarts(detail)
    assert restarted_at(kube) == before


def test_a_resolved_alert_refuses_the_writes_still_waiting(scarlet: Scarlet, kube: Any) -> None:
    before = restarted_at(kube)
    run_id, detail = waiting_run(scarlet, "fp-resolved")
    [action] = [a for a in detail["actions"] if a["status"] == "waiting"]
    resolved = scarlet.post("/v1/alerts", alert("fp-resolved", status="resolved"))
    assert resolved.status_code == 202 and resolved.json()["resolved_runs"] == [run_id]
    detail = scarlet.wait_run(run_id, {"completed"})
    [refused] = detail["actions"]
    assert (refused["status"], refused["decided_by"]) == ("rejected", "scarlet")
    late = scarlet.post(f"/v1/actions/{action['id']}/approve", {}, who="alice")
    assert late.status_code == 409 and "rejected by scarlet" in late.text
    time.sleep(1)
    assert restarted_at(kube) == before


def test_repeated_alerts_join_the_open_run(scarlet: Scarlet) -> None:
    first = scarlet.post("/v1/alerts", alert("fp-dedupe")).json()["runs"][0]
    second = scarlet.post("/v1/alerts", alert("fp-dedupe")).json()["runs"][0]
    assert first["created"] is True and second["created"] is False
    assert first["run"] == second["run"]


def test_requests_need_a_token_and_a_valid_payload(scarlet: Scarlet) -> None:
    assert httpx.post(f"{scarlet.api}/v1/alerts", json=alert("x"), timeout=5).status_code == 401
    response = scarlet.post("/v1/alerts", {"status": "firing", "alerts": [{"labels": {}}]})
    assert response.status_code == 422 and "fingerprint" in response.text
    assert scarlet.post("/v1/runs", {"question": ""}).status_code == 422


def test_malformed_requests_get_a_4xx_and_the_docs_are_not_served(scarlet: Scarlet) -> None:
    auth = {"Authorization": f"Bearer {scarlet.tokens['alice']}"}
    bogus = httpx.get(f"{scarlet.api}/v1/runs?status=bogus", headers=auth, timeout=10)
    assert bogus.status_code == 422 and "status: unknown status 'bogus'" in bogus.text
    for limit in ("0", "501", "many"):
        answer = httpx.get(f"{scarlet.api}/v1/runs?limit={limit}", headers=auth, timeout=10)
        assert answer.status_code == 422, limit
    unknown = scarlet.post("/v1/actions/987654/approve", {}, who="alice")
    assert unknown.status_code == 404 and "no action 987654" in unknown.text
    for path in ("/docs", "/redoc", "/openapi.json"):
        for headers in ({}, auth):
            assert httpx.get(f"{scarlet.api}{path}", headers=headers).status_code == 404


def test_every_alert_field_is_capped_before_it_reaches_a_prompt(scarlet: Scarlet) -> None:
    flood = alert("fp-flood")
    flood["alerts"][0]["annotations"] = {"summary": "x" * 1_000_000}
    flood["alerts"][0]["labels"]["pod"] = "p" * 5000
    response = scarlet.post("/v1/alerts", flood)
    assert response.status_code == 202, response.text[:500]
    run = scarlet.get(f"/v1/runs/{response.json()['runs'][0]['run']}")
    summary = "x" * (2000 - len(" [cut]")) + " [cut]"
    assert run["question"] == f"Alert KubePodCrashLooping is firing: {summary}"
    assert len(run["alert"]["annotations"]["summary"]) == 2000
    assert len(run["alert"]["labels"]["pod"]) == 1024


def test_approvals_from_the_command_line(
    scarlet_factory: Callable[..., Scarlet], tmp_path: Path
) -> None:
    # Its own Scarlet: the restart earlier tests left waiting would not be proposed twice.
    scarlet = scarlet_factory("cli")
    run_id, detail = waiting_run(scarlet, "fp-cli")
    [action] = [a for a in detail["actions"] if a["status"] == "waiting"]
    token_file = tmp_path / "token"
    token_file.write_text(scarlet.tokens["alice"])

    def scarlet_cli(*args: str) -> subprocess.CompletedProcess[str]:
        options = ["--url", scarlet.api, "--token-file", str(token_file)]
        return subprocess.run(
            [*cli(), "scarlet", *args, *options], capture_output=True, text=True, timeout=60
        )

    listing = scarlet_cli("waiting")
    assert listing.returncode == 0, listing.stderr
    [line] = [
        row
        for row in listing.stdout.splitlines()
        if row.split()[:2] == [str(run_id), str(action["id"])]
    ]
    assert "kubernetes__rollout_restart" in line
    wrong = scarlet_cli("approve", str(run_id + 1000), str(action["id"]))
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        f"Scarlet refused (404): no action {action['id']} of run {run_id + 1000}"
    )
    approved = scarlet_cli("approve", str(run_id), str(action["id"]), "--reason", "on call")
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip() == f"action {action['id']} of run {run_id}: approved by alice"
    decided = scarlet.wait_run(run_id, {"completed"})
    [done] = [a for a in decided["actions"] if a["id"] == action["id"]]
    assert (done["decided_by"], done["reason"]) == ("alice", "on call")
    again = scarlet_cli("reject", str(run_id), str(action["id"]))
    assert again.returncode == 1 and "Scarlet refused (409)" in again.stderr
    nowhere = subprocess.run(
        [*cli(), "scarlet", "waiting", "--url", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SCARLET_TOKEN": scarlet.tokens["bob"]},
    )
    assert nowhere.returncode == 1 and "did not answer" in nowhere.stderr


def test_with_dry_run_an_approved_action_rehearses_and_changes_nothing(
    scarlet_factory: Callable[..., Scarlet], kube: Any
) -> None:
    rules = [{"tool": "kubernetes__rollout_restart", "decision": "approval"}]
    scarlet = scarlet_factory("dry", actions={"rules": rules, "dry_run": True})
    before = restarted_at(kube)
    run_id, detail = waiting_run(scarlet, "fp-dry")
    [action] = [a for a in detail["actions"] if a["status"] == "waiting"]
    assert "dry_run" not in action["arguments"]
    response = scarlet.post(f"/v1/actions/{action['id']}/approve", {}, who="alice")
    assert response.status_code == 200, response.text
    detail = scarlet.wait_run(run_id, {"completed"})
    [done] = [a for a in detail["actions"] if a["id"] == action["id"]]
    assert done["status"] == "executed" and "dry run" in done["result"]
    # The one that ran once approved (a waiting write is also dry-run for the person deciding).
    [restart] = [
        c
        for c in detail["tool_calls"]
        if c["tool"] == "kubernetes__rollout_restart" and c["approved_by"] == "alice"
    ]
    assert restart["arguments"]["dry_run"] is True
    assert restarted_at(kube) == before


def test_api_tokens_are_read_again_when_the_file_changes(
    scarlet_factory: Callable[..., Scarlet],
) -> None:
    rotated = scarlet_factory("rotated")
    tokens_file = rotated.log.with_name("rotated-api-tokens.yaml")
    entries = yaml.safe_load(tokens_file.read_text())
    fresh = secrets.token_urlsafe(24)
    entries = [e for e in entries if e["subject"] != "bob"]
    entries.append({"token": fresh, "subject": "carol", "roles": ["viewer"]})
    staged = tokens_file.with_suffix(".staged")
    staged.write_text(yaml.safe_dump(entries))
    staged.replace(tokens_file)  # as a Secret update swaps the file
    carol = httpx.get(
        f"{rotated.api}/v1/runs", headers={"Authorization": f"Bearer {fresh}"}, timeout=10
    )
    assert carol.status_code == 200
    bob = httpx.get(
        f"{rotated.api}/v1/runs",
        headers={"Authorization": f"Bearer {rotated.tokens['bob']}"},
        timeout=10,
    )
    assert bob.status_code == 401
    staged.write_text("- token: [broken")
    staged.replace(tokens_file)  # a broken update keeps the tokens read before
    again = httpx.get(
        f"{rotated.api}/v1/runs", headers={"Authorization": f"Bearer {fresh}"}, timeout=10
    )
    assert again.status_code == 200
    assert "not reloaded, the previous content stays in force" in rotated.log.read_text()


def test_approval_expiry_rejects(scarlet_factory: Callable[..., Scarlet]) -> None:
    short = scarlet_factory(
        "expiry",
        actions={
            "rules": [{"tool": "kubernetes__rollout_restart", "decision": "approval"}],
            "approval_expiry_seconds": 2,
        },
    )
    run_id, detail = waiting_run(short, "fp-expiry")
    detail = short.wait_run(run_id, {"completed"}, timeout=30)
    assert [a["status"] for a in detail["actions"]] == ["expired"]
    assert any(a["decided_by"] == "expiry" for a in detail["approvals"])


def test_health_and_metrics(scarlet: Scarlet) -> None:
    ready = httpx.get(f"{scarlet.health}/readyz", timeout=5).json()
    assert ready["status"] == "ready" and ready["servers"]["kubernetes"] == "up"
    scraped = {
        sample.name: sample.value
        for family in text_string_to_metric_families(httpx.get(scarlet.metrics, timeout=5).text)
        for sample in family.samples
    }
    assert scraped["scarlet_store_up"] == 1.0
    assert scraped["scarlet_queue_oldest_seconds"] >= 0.0
    assert "scarlet_runs_finished_last_hour" in scraped
    assert ready["notifications"] == "ok"
    log = scarlet.log.read_text()
    assert f"Scarlet agent API: {scarlet.api}/v1/runs" in log
    assert f"Scarlet health: {scarlet.health}/readyz" in log


def test_a_run_streams_its_steps_and_status_as_server_sent_events(scarlet: Scarlet) -> None:
    run_id = scarlet.post("/v1/runs", {"question": "why is shop failing?"}, who="alice").json()[
        "run"
    ]
    events: list[tuple[str, dict[str, Any]]] = []
    headers = {"Authorization": f"Bearer {scarlet.tokens['bob']}"}
    with httpx.stream(
        "GET", f"{scarlet.api}/v1/runs/{run_id}/events", headers=headers, timeout=60
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((event, json.loads(line.removeprefix("data: "))))
                if event == "end":
                    break
    steps = [data["kind"] for kind, data in events if kind == "step"]
    assert steps[:2] == ["submitted", "started"] or steps[:2] == ["started", "submitted"]
    assert "analyzers" in steps
    # The restart an earlier run of this module left waiting is not proposed a second time.
    assert "action_proposed" not in steps
    assert events[-1] == ("end", {"run": run_id, "status": "completed"})
    report = scarlet.get(f"/v1/runs/{run_id}")["report"]
    assert report["subject"]["why"] == "the question names no namespace"
    [pending] = report["already_pending"]
    assert (pending["tool"], pending["status"]) == ("kubernetes__rollout_restart", "waiting")
    assert pending["run"] != run_id
    missing = httpx.get(f"{scarlet.api}/v1/runs/999999/events", headers=headers, timeout=5)
    assert missing.status_code == 404
