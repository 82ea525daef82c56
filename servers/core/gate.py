"""The policy gate: every tool call of every server passes here, and only here.

Order: identity → tool allowed → rate limit → typed arguments → scope (a client bound to
the role's scope) → call within the time limit → item/byte limits → redaction → audit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from autodevops.common.identity import Principal
from autodevops.common.redact import redact_text, redact_value
from autodevops.common.unavailable import BackendUnavailable

from .audit import AuditLog, AuditRecord
from .errors import GateError, InvalidArgument
from .output import render
from .policy import Policy, Role
from .ratelimit import RateLimiter
from .spec import Backend, ToolSpec

if TYPE_CHECKING:
    from .metrics import ServerMetrics

log = logging.getLogger("autodevops.gate")


@dataclass
class CallResult:
    text: str
    is_error: bool
    audit: AuditRecord | None = None


class Gate:
    def __init__(
        self,
        server: str,
        policy: Policy,
        scope_model: type[BaseModel],
        backend: Backend[Any],
        audit: AuditLog,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.server = server
        self.policy = policy
        self.backend = backend
        self.audit = audit
        self.metrics = metrics
        self._rate = RateLimiter()
        self._scopes = {
            name: scope_model.model_validate(role.scope) for name, role in policy.roles.items()
        }

    def visible(self, principal: Principal, tool: str) -> bool:
        return self.policy.role_for(list(principal.roles), tool) is not None

    async def call(
        self, tool: ToolSpec[Any], arguments: dict[str, Any], principal: Principal
    ) -> CallResult:
        started = time.perf_counter()
        record = AuditRecord(
            subject=principal.subject,
            roles=list(principal.roles),
            server=self.server,
            tool=tool.name,
            arguments=redact_value(arguments),
            decision="allow",
            reason="allowed",
            outcome="ok",
            transport=principal.transport,
            actor=principal.actor,
        )
        try:
            result = await self._call(tool, arguments, principal, record)
        except _Denied as exc:
            record.decision, record.reason, record.outcome = "deny", exc.reason, "denied"
            result = CallResult(redact_text(exc.message), is_error=True)
        except GateError as exc:
            record.outcome = exc.reason
            result = CallResult(redact_text(exc.message), is_error=True)
        except BackendUnavailable as exc:
            record.outcome = "backend_error"
            result = CallResult(exc.message, is_error=True)
        except Exception:
            log.exception("tool %s failed", tool.name)
            record.outcome = "internal_error"
            result = CallResult(
                f"internal error in tool {tool.name}; the server logged the details",
                is_error=True,
            )
        elapsed = time.perf_counter() - started
        record.duration_ms = round(elapsed * 1000, 3)
        record.result_bytes = len(result.text.encode("utf-8"))
        self.audit.write(record)
        if self.metrics is not None:
            denial = record.reason if record.decision == "deny" else None
            self.metrics.observe(tool.name, record.outcome, elapsed, denial)
        result.audit = record
        return result

    async def _call(
        self,
        tool: ToolSpec[Any],
        arguments: dict[str, Any],
        principal: Principal,
        record: AuditRecord,
    ) -> CallResult:
        governing = self.policy.role_for(list(principal.roles), tool.name)
        if governing is None:
            raise _Denied(
                "tool_not_allowed",
                f"tool '{tool.name}' is not allowed for {principal.subject} "
                f"(roles: {', '.join(principal.roles) or 'none'})",
            )
        role_name, role = governing
        record.role = role_name
        self._check_rate(principal, role)
        args = _validate(tool, arguments)
        client = self.backend.scoped(self._scopes[role_name])
        output = await self._run(tool, args, client, role)
        rendered = render(output, role.limits.max_items, role.limits.max_bytes)
        record.cut = rendered.cut
        text = redact_text(rendered.text) if role.redact else rendered.text
        return CallResult(text, is_error=False)

    def _check_rate(self, principal: Principal, role: Role) -> None:
        per_minute = role.limits.calls_per_minute
        actor = principal.actor
        ceiling = self.policy.delegate_ceiling(actor) if actor is not None else None
        refused = self._rate.allow_call(actor, principal.subject, per_minute, ceiling)
        if refused == "subject":
            raise _Denied(
                "rate_limited",
                f"rate limit: {per_minute} calls per minute for {principal.subject}; "
                "wait and retry",
            )
        if refused == "actor":
            raise _Denied(
                "rate_limited",
                f"rate limit: {actor} may make {ceiling} calls per minute for everyone it "
                "acts for; wait and retry",
            )

    async def _run(self, tool: ToolSpec[Any], args: BaseModel, client: Any, role: Role) -> Any:
        seconds = role.limits.timeout_seconds
        try:
            async with asyncio.timeout(seconds):
                return await tool.handler(args, client)
        except GateError as exc:
            if exc.denied:
                raise _Denied(exc.reason, exc.message) from exc
            raise
        except TimeoutError as exc:
            raise _Timeout(
                f"{self.backend.name} at {self.backend.url} did not answer within {seconds:g}s "
                f"(the call time limit). Check: the backend's health and load, or narrow the "
                f"request (shorter range, more selective matchers)"
            ) from exc


class _Denied(GateError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Timeout(GateError):
    reason = "timeout"
    denied = False


def _validate(tool: ToolSpec[Any], arguments: dict[str, Any]) -> BaseModel:
    try:
        return tool.args_model.model_validate(arguments)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "(arguments)"
            problems.append(f"invalid argument '{field}': {error['msg']}")
        raise _Denied(InvalidArgument.reason, "; ".join(problems)) from exc
