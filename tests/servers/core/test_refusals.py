"""Everything refused is audited: unknown tool names (escaped, with who asked), and what the
HTTP layer turns away (no token, a bad one, a wrong Host, a WebSocket); anonymous readiness
says only "unavailable"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from autodevops.common.identity import Principal
from autodevops.servers.core.http_guard import HttpGuard
from autodevops.servers.core.policy import Policy
from autodevops.servers.core.refusals import escaped
from devstack.base import free_port
from devstack.services import audit_lines
from tests.conftest import TEST_POLICY, TOKENS, HttpServer
from tests.mcp_helpers import INITIALIZE, MCP_HEADERS, client_for, prometheus_mcp

UNKNOWN = ["query ", "Query", "../query", "que\u200bry", "exec", "kubectl", "q\x00\n" + "x" * 300]


@pytest.fixture
def server(prometheus: Any, start_http_server: Any) -> HttpServer:
    started: HttpServer = start_http_server(prometheus.url)
    return started


@pytest.mark.parametrize("name", UNKNOWN)
async def test_an_unknown_tool_name_is_audited_escaped(
    prometheus: Any, tmp_path: Path, name: str
) -> None:
    async with prometheus_mcp(prometheus.url, "viewer", tmp_path) as (client, audit):
        result = await client.call_tool(name, {"password": "hunter2"}, raise_on_error=False)
        assert result.is_error
    [line] = audit_lines(audit)
    assert line["tool"] == escaped(name) and line["reason"] == "unknown_tool"
    assert line["decision"] == "deny" and line["subject"].startswith("local:")
    assert line["arguments"] == {"password": "[REDACTED]"}
    assert line["tool"].isprintable() and len(line["tool"]) < 240


def test_escaping_shows_what_hides() -> None:
    assert escaped("que\u200bry") == "que\\u200bry"
    assert escaped("a\tb") == "a\\tb"
    assert escaped("x" * 500).endswith("... (500 chars)")


async def test_unknown_tools_over_http_name_the_caller(server: HttpServer) -> None:
    async with client_for(server.mcp_url, TOKENS["viewer"]) as client:
        result = await client.call_tool("kubectl", {}, raise_on_error=False)
    assert result.is_error
    [line] = audit_lines(server.audit_log)
    assert (line["subject"], line["tool"], line["reason"]) == (
        "user-viewer",
        "kubectl",
        "unknown_tool",
    )


async def test_http_refusals_are_audited_with_who_asked(server: HttpServer) -> None:
    async with httpx.AsyncClient(headers=MCP_HEADERS) as http:
        assert (await http.post(server.mcp_url, json=INITIALIZE)).status_code == 401
        bad = {"Authorization": "Bearer not-a-token-at-all"}
        assert (await http.post(server.mcp_url, json=INITIALIZE, headers=bad)).status_code == 401
        host = {"Host": "evil.example", "Authorization": f"Bearer {TOKENS['viewer']}"}
        assert (await http.post(server.mcp_url, json=INITIALIZE, headers=host)).status_code == 403
        signed = {"Authorization": f"Bearer {TOKENS['viewer']}", "Accept": "text/plain"}
        assert (await http.post(server.mcp_url, json=INITIALIZE, headers=signed)).status_code >= 400
        assert (await http.get(f"{server.url}/readyz")).status_code == 200
    lines = audit_lines(server.audit_log)
    assert [(x["subject"], x["reason"], x["arguments"]["status"]) for x in lines[:3]] == [
        ("anonymous", "unauthorized", 401),
        ("anonymous", "unauthorized", 401),
        ("anonymous", "host_not_allowed", 403),
    ]
    assert lines[3]["subject"] == "user-viewer" and lines[3]["decision"] == "deny"
    assert len(lines) == 4, "probes are not audited"
    assert all(x["arguments"]["path"] == "/mcp" and x["transport"] == "http" for x in lines)
    assert all(x["arguments"]["client"] == "127.0.0.1" for x in lines)


async def test_a_websocket_is_refused_and_audited(server: HttpServer) -> None:
    url = f"ws://127.0.0.1:{server.port}/mcp"
    headers = {"Authorization": f"Bearer {TOKENS['viewer']}"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=headers):
            pass
    assert refused.value.response.status_code == 403
    [line] = audit_lines(server.audit_log)
    assert (line["reason"], line["transport"]) == ("websocket_refused", "websocket")


async def test_the_guard_never_hands_a_websocket_to_the_app() -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    guard = HttpGuard(app, _Nobody(), Policy.model_validate(TEST_POLICY), [], [])
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "websocket.connect"}

    await guard({"type": "websocket", "path": "/mcp", "headers": []}, receive, send)
    await guard({"type": "lifespan"}, receive, send)
    await guard({"type": "unknown-protocol"}, receive, send)
    assert reached == ["lifespan"]
    assert sent == [{"type": "websocket.close", "code": 1008}]


class _Nobody:
    async def authenticate(self, token: str) -> Principal | None:
        return None


async def test_anonymous_readiness_says_only_unavailable(start_http_server: Any) -> None:
    down = f"http://user:pa55word@127.0.0.1:{free_port()}"
    server = start_http_server(down)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        anonymous = await http.get("/readyz")
        wrong = await http.get("/readyz", headers={"Authorization": "Bearer wrong-token-xxxxxx"})
        signed = await http.get("/readyz", headers={"Authorization": f"Bearer {TOKENS['viewer']}"})
    assert anonymous.status_code == wrong.status_code == signed.status_code == 503
    assert anonymous.json() == wrong.json() == {"status": "unavailable"}
    detail = signed.json()["detail"]
    assert "127.0.0.1" in detail and "pa55word" not in detail
