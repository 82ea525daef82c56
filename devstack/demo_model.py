"""The demo's model acts, on the Kubernetes act's control plane: Jamie answering a person
through the real model (Ollama built by the stack), and Scarlet taking an Alertmanager alert
for a crash-looping pod to a proposed restart that a person approves from the command line
and that runs as a dry run.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

from . import components, models
from .base import free_port
from .jamie import mcp_deployment, write_users
from .kube import KubeHandle
from .ollama import OllamaHandle
from .services import audit_lines, cli, start_mcp_server, start_service

QUESTION = "List the pods in the namespace shop."
SCARLET_TOOLS = ["list_resources", "get_resource", "describe", "events", "pod_logs"]
CART = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: cart}}
  template:
    metadata: {labels: {app: cart}}
    spec:
      nodeName: demo-ghost
      tolerations: [{operator: Exists}]
      containers: [{name: cart, image: "cart:3"}]
"""
CART_STATUS = {
    "status": {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "cart",
                "image": "cart:3",
                "imageID": "",
                "ready": False,
                "restartCount": 6,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
                "lastState": {
                    "terminated": {
                        "reason": "Error",
                        "exitCode": 1,
                        "message": "dial tcp 10.96.0.12:6379: connect: connection refused",
                    }
                },
            }
        ],
    }
}


def model_config(ollama: OllamaHandle, steps: int) -> dict[str, Any]:
    """A client's model section for the stack's Ollama, with budgets for a small CPU."""
    return {
        "host": ollama.url,
        "name": ollama.model,
        "num_ctx": 8192,
        "max_steps": steps,
        "max_seconds": 900,
        "probe_seconds": 5,
    }


def model_acts(work: Path, kube: KubeHandle) -> None:
    stack = work / "stack"
    stack.mkdir(mode=0o755)
    try:
        print(
            f"== The model: Ollama (built by the local stack), {models.CHAT.family} "
            f"{models.CHAT.size} for chat, {models.EMBED.family} {models.EMBED.size} for memory",
            flush=True,
        )
        started = time.monotonic()
        ollama, _ = components.ensure("ollama", stack)
        assert isinstance(ollama, OllamaHandle)
        print(f"Ollama: {ollama.url}, model {ollama.model} ({_took(started)})\n", flush=True)
        _jamie_act(work, stack, kube, ollama)
        _scarlet_act(work, stack, kube, ollama)
    finally:
        components.stop_all(stack)


def _took(started: float) -> str:
    return f"{time.monotonic() - started:.1f} s"


def _jamie_act(work: Path, stack: Path, kube: KubeHandle, ollama: OllamaHandle) -> None:
    print("== Jamie: a person asks about the cluster; the model picks a tool", flush=True)
    started = time.monotonic()
    redis, _ = components.ensure("redis", stack)
    ferretdb, _ = components.ensure("ferretdb", stack)
    workdir = work / "jamie"
    workdir.mkdir()
    write_users(workdir)
    scope = {"namespaces": {"allow": ["shop"]}, "verbs": ["get", "list"]}
    tools = ["list_resources", "describe", "events"]
    roles = {"viewer": {"tools": tools, "scope": scope}, "operator": {"tools": tools}}
    deployment = mcp_deployment(
        workdir, {"kubernetes": (roles, ["--kubeconfig", str(kube.kubeconfig)])}
    )
    try:
        jamie = deployment.start(
            "demo",
            ollama,
            redis.env()["REDIS_URL"],
            ferretdb.env()["MONGODB_URL"],
            model={**model_config(ollama, 4), "embed_name": ollama.embed_model},
        )
        conversation = jamie.new_conversation("ben")
        print(f"ben asks: {QUESTION}\nJamie: ", end="", flush=True)
        asked = time.monotonic()
        jamie.ask("ben", conversation, QUESTION, _show_event)
        print(f"\n(turn {_took(asked)})")
        print("(A 1.5B model on a CPU can misread a table: the tool card is what the server said.)")
        calls = [
            line
            for line in audit_lines(deployment.audit_logs["kubernetes"])
            if line["tool"] != "tools/list"
        ]
        if calls:
            print("The server's audit line, as the person with Jamie acting for them:")
            print(json.dumps(calls[-1], separators=(",", ":")))
        jamie.close()
    finally:
        deployment.stop()
    print(f"(Jamie act: {_took(started)})\n", flush=True)


def _show_event(kind: str, data: dict[str, Any]) -> None:
    if kind == "text":
        print(data["text"], end="", flush=True)
    elif kind == "tool_call_started":
        arguments = json.dumps(data["arguments"], separators=(",", ":"))
        print(f"\n  [tool] {data['tool']} {arguments}", flush=True)
    elif kind == "tool_call_finished":
        lines = data["text"].splitlines()
        shown = "\n".join(f"  | {line}" for line in lines[:6])
        more = f"\n  | ... {len(lines) - 6} more lines" if len(lines) > 6 else ""
        print(f"  [{data['outcome']}, {data['seconds']:.2f} s]\n{shown}{more}\nJamie: ", end="")
    elif kind == "final" and data.get("stop_reason") != "answer":
        print(f"\n  [the turn ended on its {data.get('stop_reason')} budget]", flush=True)
    elif kind in ("notice", "budget", "error"):
        print(f"\n  [{kind}] {data.get('message') or data.get('detail')}", flush=True)


def _scarlet_act(work: Path, stack: Path, kube: KubeHandle, ollama: OllamaHandle) -> None:
    print("== Scarlet: Alertmanager reports a crash-looping pod", flush=True)
    started = time.monotonic()
    kube.kubectl("apply", "-f", "-", input=CART)
    pod = _wait_for_pod(kube)
    kube.request(
        "PATCH",
        f"/api/v1/namespaces/shop/pods/{pod}/status",
        CART_STATUS,
        content_type="application/merge-patch+json",
    )
    postgres, _ = components.ensure("postgres", stack)
    workdir = work / "scarlet"
    workdir.mkdir()
    dsn = _database(postgres.env()["DATABASE_URL"])
    (workdir / "dsn").write_text(dsn)
    token = secrets.token_urlsafe(24)
    (workdir / "kube-token").write_text(token)
    policy = {
        "server": "kubernetes",
        "roles": {
            "scarlet": {
                "tools": [*SCARLET_TOOLS, "rollout_restart"],
                "scope": {"namespaces": {"allow": ["shop"]}, "verbs": ["get", "list", "patch"]},
            }
        },
    }
    tokens = [{"token": token, "subject": "scarlet", "roles": ["scarlet"]}]
    server = start_mcp_server(
        workdir, "kubernetes", policy, tokens, "--kubeconfig", str(kube.kubeconfig)
    )
    people = {who: secrets.token_urlsafe(24) for who in ("alertmanager", "alice")}
    roles = {"alertmanager": ["submitter"], "alice": ["approver", "viewer"]}
    entries = [{"token": people[who], "subject": who, "roles": roles[who]} for who in people]
    (workdir / "api-tokens.yaml").write_text(yaml.safe_dump(entries))
    (workdir / "alice-token").write_text(people["alice"])
    api, metrics, health = free_port(), free_port(), free_port()
    config = {
        "database_url_file": str(workdir / "dsn"),
        "servers": [
            {"name": "kubernetes", "url": server.url, "token_file": str(workdir / "kube-token")}
        ],
        "model": model_config(ollama, 3),
        "actions": {
            "rules": [{"tool": "kubernetes__rollout_restart", "decision": "approval"}],
            "dry_run": True,
        },
        "namespaces": ["shop"],
        "api_tokens_file": str(workdir / "api-tokens.yaml"),
        "ports": {"api": api, "metrics": metrics, "health": health},
        "worker": {"poll_seconds": 0.2},
    }
    (workdir / "scarlet.yaml").write_text(yaml.safe_dump(config))
    scarlet = start_service(
        [*cli(), "scarlet", "--config", str(workdir / "scarlet.yaml")],
        workdir / "scarlet.log",
        f"http://127.0.0.1:{health}/healthz",
    )
    url = f"http://127.0.0.1:{api}"
    try:
        alert = _alert(pod)
        print(f"Alertmanager posts: {json.dumps(alert['alerts'][0]['labels'])}", flush=True)
        run = _post(url, people["alertmanager"], "/v1/alerts", alert)["runs"][0]["run"]
        detail = _wait_run(url, people["alice"], run, {"waiting_approval", "completed", "partial"})
        _show_report(detail)
        waiting = [a for a in detail["actions"] if a["status"] == "waiting"]
        # The analyzers' restart is approved; anything the model proposed besides is refused.
        waiting.sort(key=lambda a: str(a["why"]).startswith("proposed by the model"))
        for index, action in enumerate(waiting):
            verb = "approve" if index == 0 else "reject"
            argv = ["scarlet", verb, str(run), str(action["id"]), "--url", url]
            argv += ["--token-file", str(workdir / "alice-token"), "--reason", "demo"]
            print(f"\n$ autodevops {' '.join(argv[:4])} --reason demo")
            decided = subprocess.run([*cli(), *argv], capture_output=True, text=True, timeout=60)
            print((decided.stdout or decided.stderr).strip())
        if waiting:
            detail = _wait_run(url, people["alice"], run, {"completed", "partial", "failed"})
            [done] = [a for a in detail["actions"] if a["id"] == waiting[0]["id"]]
            print(f"Action #{done['id']} {done['status']}: {done['result']}")
        print(f"Run {run}: {detail['status']}")
    finally:
        scarlet.terminate()
        scarlet.wait(timeout=15)
        server.stop()
    print(f"(Scarlet act: {_took(started)})\n", flush=True)


def _wait_for_pod(kube: KubeHandle) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pods = kube.request("GET", "/api/v1/namespaces/shop/pods?labelSelector=app%3Dcart")
        if pods["items"]:
            return str(pods["items"][0]["metadata"]["name"])
        time.sleep(0.5)
    raise RuntimeError("the cart Deployment made no pod within 60 s")


def _database(server_url: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute('CREATE DATABASE "scarlet_demo"')
    return psycopg.conninfo.make_conninfo(server_url, dbname="scarlet_demo")


def _alert(pod: str) -> dict[str, Any]:
    labels = {
        "alertname": "KubePodCrashLooping",
        "namespace": "shop",
        "pod": pod,
        "severity": "critical",
    }
    return {
        "version": "4",
        "status": "firing",
        "receiver": "scarlet",
        "alerts": [
            {
                "status": "firing",
                "fingerprint": secrets.token_hex(8),
                "labels": labels,
                "annotations": {"summary": f"pod shop/{pod} restarts again and again"},
                "startsAt": "2026-11-30T10:00:00Z",
            }
        ],
    }


def _post(url: str, token: str, path: str, body: Any) -> Any:
    response = httpx.post(
        f"{url}{path}", json=body, timeout=10, headers={"Authorization": f"Bearer {token}"}
    )
    response.raise_for_status()
    return response.json()


def _wait_run(url: str, token: str, run: int, statuses: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{url}/v1/runs/{run}", timeout=10, headers={"Authorization": f"Bearer {token}"}
        )
        detail: dict[str, Any] = response.raise_for_status().json()
        if detail["status"] in statuses:
            return detail
        time.sleep(0.5)
    raise RuntimeError(f"Scarlet's run {run} did not reach {statuses} within 1200 s")


def _show_report(detail: dict[str, Any]) -> None:
    report = detail["report"]
    for finding in report["findings"][:2]:
        print(f"Finding [{finding['severity']}] {finding['subject']}: {finding['summary']}")
        print(f"  likely cause: {finding['likely_cause']}")
        for line in json.dumps(finding["evidence"], indent=1).splitlines()[:12]:
            print(f"  evidence {line}")
    model = report["model"]
    if model.get("used"):
        print(f"The model ({model.get('steps')} steps, {model.get('tool_calls')} tool calls):")
        print("  " + model.get("answer", "").strip().replace("\n", "\n  "))
    else:
        print(f"The model was not used: {model.get('skipped_reason')}")
    for action in detail["actions"]:
        arguments = json.dumps(action["arguments"], separators=(",", ":"))
        print(f"Proposed action #{action['id']}: {action['tool']} {arguments}: {action['status']}")
