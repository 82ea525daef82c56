"""The trace context a tool call carries in `_meta` is copied into the HTTP request's
`traceparent` header; nothing else is touched."""

from __future__ import annotations

import json

import httpx2

from autodevops.clients.core.trace_context import TraceHeader

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _sent(body: object) -> httpx2.Request:
    request = httpx2.Request("POST", "http://127.0.0.1/mcp", content=json.dumps(body).encode())
    flow = TraceHeader().auth_flow(request)
    sent = next(flow)
    assert sent is request
    return sent


def test_meta_traceparent_becomes_the_header() -> None:
    message = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "query", "arguments": {}, "_meta": {"traceparent": PARENT}},
    }
    assert _sent(message).headers["traceparent"] == PARENT


def test_messages_without_a_traceparent_are_left_alone() -> None:
    for body in (
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": {
            "query": '"traceparent"'}}},
        {"jsonrpc": "2.0", "id": 1, "params": {"_meta": {"traceparent": 7}}},
        ["not", "an", "object", "traceparent"],
    ):  # fmt: skip
        assert "traceparent" not in _sent(body).headers
