"""The server as users run it over streamable HTTP: tokens, Host/Origin checks, health,
metrics, audit, and a backend that is down or hangs."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.prometheus import start_prometheus
from devstack.services import audit_lines
from tests.conftest import TOKENS
from tests.mcp_helpers import INITIALIZE, MCP_HEADERS, client_for, prometheus_mcp, text_of


@pytest.fixture
def server(prometheus: Any, start_http_server: Any) -> Any:
    return start_http_server(prometheus.url)


async def test_calls_with_a_token_are_scoped_to_its_role(server: Any) -> None:
    async with client_for(server.mcp_url, TOKENS["team-a"]) as client:
        result = await client.call_tool("label_values", {"label": "namespace"})
        assert text_of(result).splitlines()[1:] == ["team-a"]
    async with client_for(server.mcp_url, TOKENS["query-only"]) as client:
        assert [t.name for t in await client.list_tools()] == ["query"]
    record = audit_lines(server.audit_log)[0]
    assert record["subject"] == "user-team-a" and record["transport"] == "http"
    assert record["roles"] == ["team-a"] and record["role"] == "team-a"


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789"])
def test_missing_or_wrong_token_is_401(server: Any, token: str | None) -> None:
    headers = dict(MCP_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.post(server.mcp_url, json=INITIALIZE, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_foreign_origin_and_host_are_403(server: Any) -> None:
    auth = {"Authorization": f"Bearer {TOKENS['viewer']}", **MCP_HEADERS}
    response = httpx.post(
        server.mcp_url, json=INITIALIZE, headers={**auth, "Origin": "http://evil.example"}
    )
    assert response.status_code == 403 and "Origin" in response.json()["detail"]
    response = httpx.post(server.mcp_url, json=INITIALIZE, headers={**auth, "Host": "evil.example"})
    assert response.status_code == 403 and "--allowed-host" in response.json()["detail"]
    response = httpx.post(server.mcp_url, json=INITIALIZE, headers=auth)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:6274", "http://127.0.0.1", "https://[::1]:3000", "http://127.0.0.2"],
)
def test_loopback_origins_are_served_on_a_loopback_bind(server: Any, origin: str) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['viewer']}", "Origin": origin, **MCP_HEADERS}
    assert httpx.post(server.mcp_url, json=INITIALIZE, headers=headers).status_code == 200
    # A rebinding page sends its own name as Host: still refused, whatever the Origin.
    headers["Host"] = "attacker.example:8080"
    assert httpx.post(server.mcp_url, json=INITIALIZE, headers=headers).status_code == 403


@pytest.mark.parametrize(
    "origin", ["http://localhost.evil.example", "http://127.0.0.1.nip.io", "null", "file://"]
)
def test_origins_that_only_look_local_are_403(server: Any, origin: str) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['viewer']}", "Origin": origin, **MCP_HEADERS}
    response = httpx.post(server.mcp_url, json=INITIALIZE, headers=headers)
    assert response.status_code == 403 and "Origin" in response.json()["detail"]


def test_configured_service_host_and_origin_are_allowed(
    prometheus: Any, start_http_server: Any
) -> None:
    server = start_http_server(
        prometheus.url,
        "--allowed-host",
        "prometheus-mcp.tools.svc",
        "--allowed-origin",
        "https://portal.example",
    )
    headers = {
        "Authorization": f"Bearer {TOKENS['viewer']}",
        "Host": "prometheus-mcp.tools.svc:8080",
        "Origin": "https://portal.example",
        **MCP_HEADERS,
    }
    assert httpx.post(server.mcp_url, json=INITIALIZE, headers=headers).status_code == 200
    headers["Host"] = "other.tools.svc"
    assert httpx.post(server.mcp_url, json=INITIALIZE, headers=headers).status_code == 403


async def test_health_ready_and_metrics(server: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/healthz")).json()["status"] == "ok"
        ready = (await http.get("/readyz")).json()
        assert ready == {"status": "ready", "backend": "Prometheus"}
    async with client_for(server.mcp_url, TOKENS["query-only"]) as client:
        await client.call_tool("query", {"query": "up"})
        await client.call_tool("series", {"match": ["up"]}, raise_on_error=False)
    async with httpx.AsyncClient(base_url=server.url) as http:
        text = (await http.get("/metrics")).text
    assert 'autodevops_mcp_calls_total{outcome="ok",server="prometheus",tool="query"} 1.0' in text
    assert 'autodevops_mcp_denials_total{reason="tool_not_allowed",server="prometheus"} 1.0' in text
    assert (
        'autodevops_mcp_call_duration_seconds_count{server="prometheus",tool="query"} 1.0' in text
    )


async def test_prometheus_stopped_mid_test(tmp_path: Path, start_http_server: Any) -> None:
    private = start_prometheus(tmp_path / "private-prometheus")
    try:
        server = start_http_server(private.url)
        async with client_for(server.mcp_url, TOKENS["viewer"]) as client:
            ok = await client.call_tool("query", {"query": "up"})
            assert not ok.is_error
            private.stop()
            started = time.monotonic()
            result = await client.call_tool("query", {"query": "up"}, raise_on_error=False)
            assert time.monotonic() - started < 10
        text = text_of(result)
        assert result.is_error
        assert text.startswith(f"Prometheus at {private.url}: unreachable (ConnectError")
        assert "Check: that Prometheus is running and --prometheus-url" in text
        assert "Traceback" not in text
        async with httpx.AsyncClient(base_url=server.url) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 503 and ready.json() == {"status": "unavailable"}
            signed = {"Authorization": f"Bearer {TOKENS['viewer']}"}
            ready = await http.get("/readyz", headers=signed)
        assert ready.status_code == 503 and private.url in ready.json()["detail"]
        assert audit_lines(server.audit_log)[-1]["outcome"] == "backend_error"
    finally:
        private.stop()


@pytest.fixture
def hanging_backend() -> Iterator[str]:
    """A socket that accepts connections and never answers: the worst kind of backend."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


async def test_hanging_backend_never_blocks_initialize_and_calls_time_out(
    hanging_backend: str, start_http_server: Any, tmp_path: Path
) -> None:
    server = start_http_server(hanging_backend)
    started = time.monotonic()
    async with client_for(server.mcp_url, TOKENS["viewer"]) as client:
        tools = await client.list_tools()
        assert len(tools) == 10 and time.monotonic() - started < 2

    async with prometheus_mcp(hanging_backend, "impatient", tmp_path) as (client, audit):
        started = time.monotonic()
        result = await asyncio.wait_for(
            client.call_tool("query", {"query": "up"}, raise_on_error=False), 10
        )
        elapsed = time.monotonic() - started
        assert result.is_error and 1.4 < elapsed < 4
        text = text_of(result)
        assert text.startswith(f"Prometheus at {hanging_backend} did not answer within 1.5s")
        assert audit_lines(audit)[-1]["outcome"] == "timeout"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503
