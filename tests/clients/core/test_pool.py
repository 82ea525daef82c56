"""The MCP session pool against the project's real servers: HTTP and stdio, restarts, a server
that is down, a wrong token and a backend that hangs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from autodevops.clients.core.endpoints import Endpoint, HttpEndpoint, StdioEndpoint
from autodevops.clients.core.pool import McpPool
from devstack.base import free_port
from devstack.services import cli
from tests.conftest import TOKENS, write_policy

PROMETHEUS_TOOLS = {
    "query",
    "query_range",
    "series",
    "label_names",
    "label_values",
    "metric_metadata",
    "targets",
    "alerts",
    "rules",
    "server_info",
}


def stdio_endpoint(name: str, prometheus_url: str, policy: Path, audit: Path) -> StdioEndpoint:
    args = ["serve", "prometheus", "--policy", str(policy), "--audit-log", str(audit)]
    return StdioEndpoint(
        name,
        sys.executable,
        (*cli()[1:], *args, "--prometheus-url", prometheus_url),
    )


@pytest.fixture
def http_server_on(
    tmp_path: Path, policy_path: Path, tokens_path: Path
) -> Iterator[Callable[[str, int], subprocess.Popen[bytes]]]:
    """Starts `autodevops serve prometheus --transport http` on a chosen port, so a test can
    stop it and start it again at the same address."""
    started: list[subprocess.Popen[bytes]] = []

    def start(prometheus_url: str, port: int) -> subprocess.Popen[bytes]:
        command = [
            *cli(),
            *("serve", "prometheus", "--transport", "http", "--port", str(port)),
            *("--policy", str(policy_path), "--tokens-file", str(tokens_path)),
            *("--audit-log", str(tmp_path / "audit.jsonl"), "--prometheus-url", prometheus_url),
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert process.poll() is None, "the HTTP server exited at start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return process
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("the HTTP server did not become healthy in 20 s")

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait(timeout=10)


async def test_http_and_stdio_servers_share_one_prefixed_catalogue(
    prometheus: Any, start_http_server: Any, tmp_path: Path
) -> None:
    server = start_http_server(prometheus.url)
    policy = write_policy(tmp_path / "stdio-policy.yaml", stdio_role="team-a")
    endpoints: list[Endpoint] = [
        HttpEndpoint("prom", server.mcp_url, TOKENS["viewer"]),
        stdio_endpoint("prom-stdio", prometheus.url, policy, tmp_path / "stdio-audit.jsonl"),
    ]
    async with McpPool(endpoints) as pool:
        names = {tool.name for tool in pool.tools()}
        expected = {
            f"{prefix}__{tool}" for prefix in ("prom", "prom-stdio") for tool in PROMETHEUS_TOOLS
        }
        assert names == expected
        assert all(tool.read_only for tool in pool.tools())
        assert [(s.name, s.up, s.tools) for s in pool.status()] == [
            ("prom", True, 10),
            ("prom-stdio", True, 10),
        ]
        query = {"label": "namespace"}
        over_http = await pool.call("prom__label_values", query)
        over_stdio = await pool.call("prom-stdio__label_values", query)
    assert over_http.outcome == "ok" and over_stdio.outcome == "ok"
    assert over_http.text.splitlines()[1:] == ["kube-system", "team-a", "team-b"]
    assert over_stdio.text.splitlines()[1:] == ["team-a"], "the stdio server ran as team-a"
    assert "user-viewer" in server.audit_log.read_text()


async def test_a_restarted_http_server_is_reconnected(
    prometheus: Any, http_server_on: Callable[[str, int], subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    process = http_server_on(prometheus.url, port)
    endpoint = HttpEndpoint("prom", f"http://127.0.0.1:{port}/mcp", TOKENS["viewer"])
    async with McpPool([endpoint], retry_interval=0.2) as pool:
        assert (await pool.call("prom__server_info", {})).outcome == "ok"

        stop(process)
        down = await pool.call("prom__server_info", {})
        assert down.outcome == "unavailable"
        assert down.text.startswith("MCP server prom is unavailable: cannot reach http://127.0.0.1")
        assert pool.tools() == [] and pool.tool("prom__query") is None
        (status,) = pool.status()
        assert not status.up and "cannot reach" in status.reason

        http_server_on(prometheus.url, port)
        await asyncio.sleep(0.3)
        await pool.refresh()
        assert len(pool.tools()) == 10 and pool.status()[0].up
        again = await pool.call("prom__server_info", {})
        assert again.outcome == "ok", again.text


async def test_a_killed_stdio_server_is_restarted_by_the_next_call(
    prometheus: Any, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "policy.yaml")
    endpoint = stdio_endpoint("prom", prometheus.url, policy, tmp_path / "audit.jsonl")
    async with McpPool([endpoint]) as pool:
        assert (await pool.call("prom__server_info", {})).outcome == "ok"
        (child,) = children_running(str(policy))
        os.kill(child, signal.SIGKILL)
        result = await pool.call("prom__server_info", {})
    assert result.outcome == "ok", "a read is retried once on a fresh session"


def children_running(marker: str) -> list[int]:
    """Our own child processes whose command line contains `marker`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and marker in command:
            found.append(int(stat.parent.name))
    return found


async def test_a_down_server_loses_its_tools_and_says_why(
    prometheus: Any, start_http_server: Any
) -> None:
    server = start_http_server(prometheus.url)
    endpoints = [
        HttpEndpoint("prom", server.mcp_url, TOKENS["viewer"]),
        HttpEndpoint("gone", f"http://127.0.0.1:{free_port()}/mcp", TOKENS["viewer"]),
        HttpEndpoint("badtoken", server.mcp_url, "wrong-token-0123456789"),
    ]
    async with McpPool(endpoints, connect_timeout=5) as pool:
        assert {tool.server for tool in pool.tools()} == {"prom"}
        status = {s.name: s for s in pool.status()}
        assert status["prom"].up and status["prom"].reason == ""
        assert not status["gone"].up and status["gone"].tools == 0
        assert status["gone"].reason.startswith("cannot reach http://127.0.0.1:")
        assert not status["badtoken"].up
        assert status["badtoken"].reason == (
            f"HTTP 401 from {server.mcp_url}: check this client's bearer token"
        )
        result = await pool.call("gone__query", {"query": "up"})
        assert result.outcome == "unavailable"
        assert result.text == f"MCP server gone is unavailable: {status['gone'].reason}"
        assert (await pool.call("prom__query", {"query": "up"})).outcome == "ok"
        unknown = await pool.call("prom__no_such_tool", {})
        assert unknown.outcome == "unknown_tool"


@pytest.fixture
def silent_backend() -> Iterator[str]:
    """A socket that listens and never accepts: connections queue and requests never answer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


async def test_a_call_is_bounded_by_the_pool_timeout(
    start_http_server: Any, silent_backend: str
) -> None:
    # The backend is torn down first, so the server's pending requests end and it stops fast.
    server = start_http_server(silent_backend)
    endpoint = HttpEndpoint("prom", server.mcp_url, TOKENS["viewer"])
    async with McpPool([endpoint], call_timeout=1.0) as pool:
        started = time.monotonic()
        result = await pool.call("prom__query", {"query": "up"})
        elapsed = time.monotonic() - started
        assert result.outcome == "timeout" and 0.9 < elapsed < 3
        assert result.text == (
            "prom: tool prom__query did not answer within 1s; narrow the request or try again later"
        )
        assert pool.status()[0].up, "a slow call does not take the server down"
        quick = await pool.call("prom__server_info", {}, time_limit=0.3)
        assert quick.outcome == "timeout" and "within 0.3s" in quick.text
