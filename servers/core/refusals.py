"""Refusals that happen before any tool runs get one audit line each, like every tool call:
a tool name no server has, and requests the HTTP layer turns away (no or a bad token, a
refused delegation, a wrong Host or Origin, a WebSocket, a malformed MCP request).

Names and headers are recorded as received but escaped and cut short, so a zero-width or
control character shows in the line and a long one cannot flood it.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

from autodevops.common.headers import ON_BEHALF_OF_HEADER
from autodevops.common.identity import Principal
from autodevops.common.redact import redact_value

from .audit import AuditLog, AuditRecord
from .http_guard import OPEN_PATHS, ASGIApp, Receive, Scope, Send

MAX_ESCAPED = 200
_BODY_BYTES = 4096


def escaped(value: str) -> str:
    """`value` with every non-printable or non-ASCII character escaped, at most 200 long."""
    text = value.encode("unicode_escape").decode("ascii")
    return text if len(text) <= MAX_ESCAPED else f"{text[:MAX_ESCAPED]}... ({len(value)} chars)"


def unknown_tool_record(
    server: str, principal: Principal, name: str, arguments: dict[str, Any]
) -> AuditRecord:
    """The audit line of a call of a tool this server does not have."""
    return AuditRecord(
        subject=principal.subject,
        roles=list(principal.roles),
        server=server,
        tool=escaped(name),
        arguments=redact_value(arguments),
        decision="deny",
        reason="unknown_tool",
        outcome="denied",
        transport=principal.transport,
        actor=principal.actor,
    )


class AuditHttpRefusals:
    """Wraps the HTTP guard and the app: a 4xx or 5xx answer, or a WebSocket closed before
    it was accepted, writes one audit line with the reason, the path and who asked (the
    authenticated caller when there is one). Health, readiness and metrics are not audited."""

    def __init__(self, app: ASGIApp, audit: AuditLog, server: str) -> None:
        self.app = app
        self.audit = audit
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        seen: dict[str, Any] = {"status": 0, "body": b""}

        async def recording(message: MutableMapping[str, Any]) -> None:
            # Written before the answer's last part leaves, so the line exists once the
            # caller has its answer.
            kind = message["type"]
            if kind == "http.response.start":
                seen["status"] = int(message["status"])
            elif kind == "http.response.body" and seen["status"] >= 400:
                seen["body"] = (seen["body"] + message.get("body", b""))[:_BODY_BYTES]
                if not message.get("more_body"):
                    self.audit.write(self._record(scope, seen["status"], seen["body"]))
            elif kind == "websocket.close" and not seen["status"]:
                self.audit.write(self._record(scope, 403, b'{"error": "websocket refused"}'))
            await send(message)

        await self.app(scope, receive, recording)

    def _record(self, scope: Scope, status: int, body: bytes) -> AuditRecord:
        state = scope.get("state") or {}
        caller = state.get("principal") or state.get("caller")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        arguments: dict[str, Any] = {
            "method": scope.get("method", "GET"),
            "path": escaped(scope.get("path", "")),
            "status": status,
            "client": (scope.get("client") or ("", 0))[0],
        }
        person = headers.get(ON_BEHALF_OF_HEADER.lower())
        if person is not None:
            arguments["on_behalf_of"] = escaped(person)
        reason = _reason(status, body)
        return AuditRecord(
            subject=caller.subject if isinstance(caller, Principal) else "anonymous",
            roles=list(caller.roles) if isinstance(caller, Principal) else [],
            server=self.server,
            tool="",
            arguments=arguments,
            decision="deny",
            reason=reason,
            outcome="denied",
            transport=scope["type"],
            actor=caller.actor if isinstance(caller, Principal) else None,
        )


def _reason(status: int, body: bytes) -> str:
    """The guard's `error` word (`unauthorized`, `delegation refused`), else the status."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, str) and error and len(error) <= 64:
        return error.replace(" ", "_")
    return f"http_{status}"
