"""Shared fixtures: the real local stack, and MCP servers built the way users run them."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from devstack.base import free_port
from devstack.services import cli

pytest_plugins = ["devstack.pytest_plugin", "tests.jamie_harness"]

TEST_POLICY = {
    "server": "prometheus",
    "stdio_role": "viewer",
    "roles": {
        "viewer": {"tools": ["*"]},
        "team-a": {"tools": ["*"], "scope": {"labels": {"namespace": ["team-a"]}}},
        "query-only": {
            "tools": ["query"],
            "limits": {"max_items": 2, "max_bytes": 600, "calls_per_minute": 3},
        },
        "tight-bytes": {"tools": ["query"], "limits": {"max_bytes": 300}},
        "no-rules": {"tools": ["*"], "deny_tools": ["rules", "targets"]},
        "nobody": {"tools": []},
        "impatient": {"tools": ["*"], "limits": {"timeout_seconds": 1.5}},
    },
}

TOKENS = {
    "viewer": "viewer-token-0123456789",
    "team-a": "team-a-token-0123456789",
    "query-only": "query-only-token-0123456789",
}


def write_policy(path: Path, stdio_role: str | None = "viewer") -> Path:
    policy = dict(TEST_POLICY, stdio_role=stdio_role)
    path.write_text(yaml.safe_dump(policy), encoding="utf-8")
    return path


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    return write_policy(tmp_path / "policy.yaml")


@pytest.fixture
def tokens_path(tmp_path: Path) -> Path:
    entries = [
        {"token": token, "subject": f"user-{role}", "roles": [role]}
        for role, token in TOKENS.items()
    ]
    path = tmp_path / "tokens.yaml"
    path.write_text(yaml.safe_dump(entries), encoding="utf-8")
    return path


@dataclass
class HttpServer:
    url: str
    port: int
    audit_log: Path
    process: subprocess.Popen[bytes]

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"


@pytest.fixture
def start_http_server(
    tmp_path: Path, policy_path: Path, tokens_path: Path
) -> Iterator[Callable[..., HttpServer]]:
    """Runs `autodevops serve prometheus --transport http` as users do, in a subprocess."""
    started: list[subprocess.Popen[bytes]] = []

    def start(prometheus_url: str, *extra: str) -> HttpServer:
        port = free_port()
        audit = tmp_path / f"audit-{port}.jsonl"
        command = [
            *cli(),
            "serve",
            "prometheus",
            "--transport",
            "http",
            "--port",
            str(port),
            "--policy",
            str(policy_path),
            "--tokens-file",
            str(tokens_path),
            "--audit-log",
            str(audit),
            "--prometheus-url",
            prometheus_url,
            *extra,
        ]
        log = (tmp_path / f"server-{port}.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError((tmp_path / f"server-{port}.log").read_text())
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return HttpServer(url, port, audit, process)
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the HTTP server did not become healthy in 20 s")

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session", autouse=True)
def _quiet_fastmcp() -> None:
    os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")
