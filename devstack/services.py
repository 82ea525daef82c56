"""Starting the project's own services for tests, the bench and the demo, the way users run
them: the `autodevops` command in a subprocess, ready when its health URL answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from .base import free_port

READY_SECONDS = 30


def cli() -> list[str]:
    """The `autodevops` command of this interpreter's environment."""
    return [sys.executable, "-m", "autodevops.clients.cli"]


def start_service(
    command: list[str], log: Path, health_url: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Run `command` (with `env` added to the environment) with its output in `log`; fails
    with the log when it exits or stays silent."""
    process = subprocess.Popen(
        command,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **env} if env else None,
    )
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            if httpx.get(health_url, timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{health_url} did not answer in {READY_SECONDS} s:\n{log.read_text()}")


@dataclass
class McpServer:
    url: str  # the /mcp endpoint
    audit_log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_mcp_server(
    workdir: Path,
    server: str,
    policy: dict[str, Any],
    tokens: list[dict[str, Any]],
    *extra: str,
) -> McpServer:
    """`autodevops serve <server> --transport http` with this policy and tokens file."""
    port = free_port()
    (workdir / f"{server}-policy.yaml").write_text(yaml.safe_dump(policy))
    (workdir / f"{server}-tokens.yaml").write_text(yaml.safe_dump(tokens))
    audit = workdir / f"{server}-audit.jsonl"
    command = [
        *cli(),
        "serve",
        server,
        "--transport",
        "http",
        "--port",
        str(port),
        "--policy",
        str(workdir / f"{server}-policy.yaml"),
        "--tokens-file",
        str(workdir / f"{server}-tokens.yaml"),
        "--audit-log",
        str(audit),
        *extra,
    ]
    url = f"http://127.0.0.1:{port}"
    process = start_service(command, workdir / f"{server}.log", f"{url}/healthz")
    return McpServer(f"{url}/mcp", audit, process)


def audit_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON audit records a server wrote to its audit log, oldest first."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
