"""Where audit lines go: `--audit-log -` puts bare JSON lines on stdout (what a cluster's log
pipeline collects), apart from the diagnostic log on stderr; never with stdio, which carries
MCP itself."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.base import free_port
from devstack.services import cli
from tests.conftest import TOKENS
from tests.mcp_helpers import client_for


def test_stdio_refuses_audit_lines_on_stdout(policy_path: Path) -> None:
    refused = subprocess.run(
        [*cli(), "serve", "prometheus", "--policy", str(policy_path), "--audit-log", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "--audit-log - (stdout) needs --transport http" in refused.stderr
    assert refused.stdout == ""


@pytest.fixture
def server_auditing_to_stdout(
    prometheus: Any, policy_path: Path, tokens_path: Path, tmp_path: Path
) -> Iterator[tuple[str, Path, Path]]:
    """The server's /mcp URL and the files its stdout and stderr go to."""
    port = free_port()
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    command = [
        *cli(), "serve", "prometheus", "--transport", "http", "--port", str(port),
        "--policy", str(policy_path), "--tokens-file", str(tokens_path),
        "--prometheus-url", prometheus.url, "--audit-log", "-",
    ]  # fmt: skip
    with stdout.open("wb") as out, stderr.open("wb") as errors:
        process = subprocess.Popen(command, stdout=out, stderr=errors)
    try:
        _wait_until_healthy(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}/mcp", stdout, stderr
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_http_writes_audit_lines_to_stdout_as_bare_json(
    server_auditing_to_stdout: tuple[str, Path, Path],
) -> None:
    url, stdout, stderr = server_auditing_to_stdout
    async with client_for(url, TOKENS["viewer"]) as client:
        await client.call_tool("query", {"query": "up"})
        await client.call_tool("query", {"query": "up{"}, raise_on_error=False)
    records = [json.loads(line) for line in stdout.read_text().splitlines()]
    assert [(r["tool"], r["subject"]) for r in records] == [("query", "user-viewer")] * 2
    assert records[0]["outcome"] == "ok" and records[1]["outcome"] != "ok"
    assert '"tool"' not in stderr.read_text()


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not become healthy")
