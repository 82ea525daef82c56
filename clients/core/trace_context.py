"""Carries a tool call's trace context to its MCP server in the HTTP request itself.

The pool puts the current `traceparent` into the call's `_meta` (which reaches a server over
any transport); over streamable HTTP, this auth step also copies it into the request's
`traceparent` header, where HTTP-aware servers, proxies and meshes look for it. It runs in the
transport's own task, where the caller's trace context is not current, so it reads the
message being sent instead.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import httpx2

from autodevops.common.telemetry import TRACEPARENT


class TraceHeader(httpx2.Auth):
    requires_request_body = True

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, Any, None]:
        value = _traceparent(request.content)
        if value:
            request.headers[TRACEPARENT] = value
        yield request


def _traceparent(body: bytes) -> str | None:
    if b'"traceparent"' not in body:
        return None
    try:
        message = json.loads(body)
        value = message["params"]["_meta"][TRACEPARENT]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None
