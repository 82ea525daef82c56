"""The suite's own traces, read back from a real Jaeger: a caller's span (a Jamie turn, a
Scarlet run) is the parent of the pool's client span, which is the parent of the server's
tool-call span across the MCP HTTP request; no argument value reaches a span."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.common import telemetry
from devstack.jaeger import JaegerHandle
from devstack.services import start_mcp_server
from tests.fakes.fake_tempo import FakeTempo

TOKEN = "telemetry-test-token-0123456789"
MARKER = "hunter2-argument-value"
POLICY = {
    "server": "tempo",
    "roles": {"team-a": {"tools": ["*"], "scope": {"values": ["team-a"]}}},
}


@pytest.fixture
def traced(jaeger: JaegerHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[JaegerHandle]:
    monkeypatch.setenv(telemetry.ENDPOINT_ENV, jaeger.otlp_url)
    telemetry.set_service("autodevops-test-client")
    yield jaeger


def _trace_with(jaeger: JaegerHandle, operation: str, spans: int) -> dict[str, Any]:
    """The trace holding `operation`, once Jaeger has at least `spans` of its spans."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for trace in jaeger.traces("autodevops-tempo", lookback="1h", limit=50):
            names = [s["operationName"] for s in trace["spans"]]
            if operation in names and len(names) >= spans:
                return trace
        time.sleep(0.5)
    raise AssertionError(f"no trace with {operation} and {spans} spans reached Jaeger in 30 s")


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in span.get("tags", [])}


async def test_turn_client_and_server_spans_form_one_trace(
    traced: JaegerHandle, tmp_path: Path
) -> None:
    turn_id = f"turn-{time.time_ns()}"
    with FakeTempo() as fake:
        server = start_mcp_server(
            tmp_path,
            "tempo",
            POLICY,
            [{"token": TOKEN, "subject": "bot", "roles": ["team-a"]}],
            f"--tempo-url={fake.url}",
        )
        try:
            async with McpPool([HttpEndpoint("tempo", server.url, token=TOKEN)]) as pool:
                with telemetry.span("jamie turn", kind="server", turn=turn_id):
                    ok = await pool.call(
                        "tempo__search_traces", {"query": f'{{ span.note = "{MARKER}" }}'}
                    )
                    refused = await pool.call(
                        "tempo__search_traces",
                        {"query": '{ resource.k8s.namespace.name = "team-b" }'},
                    )
            telemetry.flush()
        finally:
            server.stop()
    assert ok.outcome == "ok" and refused.outcome == "error"

    trace = _trace_with(traced, "jamie turn", 5)
    spans = {s["spanID"]: s for s in trace["spans"]}
    services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for span in spans.values():
        by_name.setdefault(span["operationName"], []).append(span)
    (turn,) = by_name["jamie turn"]
    assert _tags(turn)["autodevops.turn"] == turn_id
    clients = by_name["mcp tempo__search_traces"]
    # The MCP SDK and fastmcp add spans of that name too; the gate's carry the decision.
    servers = [s for s in by_name["tools/call search_traces"] if "autodevops.decision" in _tags(s)]
    assert len(clients) == 2 and len(servers) == 2

    def ancestors(span: dict[str, Any]) -> list[dict[str, Any]]:
        """Parents up to the root (the MCP SDK may add spans of its own in between)."""
        chain = []
        while refs := [r for r in span["references"] if r["refType"] == "CHILD_OF"]:
            span = spans[refs[0]["spanID"]]
            chain.append(span)
        return chain

    for client in clients:
        assert ancestors(client)[-1] is turn
        assert services[client["processID"]] == "autodevops-test-client"
    for served in servers:
        chain = ancestors(served)
        assert chain[-1] is turn and any(c in chain for c in clients)
        assert services[served["processID"]] == "autodevops-tempo"
        tags = _tags(served)
        assert tags["autodevops.server"] == "tempo" and tags["autodevops.role"] == "team-a"
        assert tags["autodevops.transport"] == "http"
    outcomes = sorted(
        (_tags(s)["autodevops.decision"], _tags(s)["autodevops.outcome"]) for s in servers
    )
    assert outcomes == [("allow", "ok"), ("deny", "denied")]
    assert MARKER not in json.dumps(trace) and "team-b" not in json.dumps(trace)


def test_without_an_endpoint_the_sdk_is_never_imported() -> None:
    """The API comes with the MCP SDK; the OpenTelemetry SDK and exporter cost a cold start
    nothing unless traces are sent."""
    code = (
        "import sys\n"
        "SDK = ('opentelemetry.sdk', 'opentelemetry.exporter')\n"
        "from autodevops.common import telemetry\n"
        "from autodevops.servers.core import app\n"
        "from autodevops.clients.core import pool\n"
        "with telemetry.span('x') as s: s.set(a=1)\n"
        "assert telemetry.carrier() == {}\n"
        "print(sorted(m for m in sys.modules if m.startswith(SDK)))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != telemetry.ENDPOINT_ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"
