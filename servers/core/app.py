"""Builds a FastMCP server from a `ServerSpec` and a policy, and runs it over stdio or HTTP."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Annotated, Any

import mcp_types as mt
from fastmcp import FastMCP
from fastmcp.server.dependencies import get_context, get_http_request
from fastmcp.server.middleware.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import Tool, ToolResult
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema
from starlette.middleware import Middleware as AsgiMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from autodevops.common import telemetry
from autodevops.common.identity import Principal, TokenStore
from autodevops.common.unavailable import BackendUnavailable

from .audit import AuditLog
from .gate import Gate
from .http_guard import HttpGuard
from .identity import Authenticator, AuthenticatorChain, stdio_principal
from .metrics import ServerMetrics
from .policy import Policy
from .refusals import AuditHttpRefusals, AuditUnknownTools
from .spec import Backend, ServerSpec, ToolSpec

READY_TIMEOUT_SECONDS = 3.0
log = logging.getLogger("autodevops.server")


@dataclass
class HttpOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    tokens: TokenStore = field(default_factory=lambda: TokenStore([]))
    token_review: Authenticator | None = None
    allowed_hosts: list[str] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)


class GatedTool(Tool):
    """A tool whose every call goes through the gate; the handler never sees raw input."""

    gate: Annotated[SkipJsonSchema[Any], Field(exclude=True)]
    spec: Annotated[SkipJsonSchema[Any], Field(exclude=True)]
    stdio: Annotated[SkipJsonSchema[Any], Field(exclude=True)]

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        gate: Gate = self.gate
        with telemetry.span(
            f"tools/call {self.spec.name}",
            kind="server",
            parent=_trace_parent(),
            server=gate.server,
            tool=self.spec.name,
        ) as span:
            result = await gate.call(self.spec, arguments, _principal(self.stdio))
            if result.audit is not None:
                record = result.audit
                span.set(
                    role=record.role,
                    decision=record.decision,
                    outcome=record.outcome,
                    transport=record.transport,
                )
                if record.outcome != "ok":
                    span.fail(record.reason if record.decision == "deny" else record.outcome)
        return ToolResult(
            content=[mt.TextContent(type="text", text=result.text)], is_error=result.is_error
        )


class VisibleToolsOnly(Middleware):
    """Hidden tools are not listed: a role sees only the tools it may call."""

    def __init__(self, gate: Gate, stdio: Principal) -> None:
        self.gate = gate
        self.stdio = stdio

    async def on_list_tools(
        self,
        context: MiddlewareContext[mt.ListToolsRequest],
        call_next: CallNext[mt.ListToolsRequest, Any],
    ) -> Any:
        principal = _principal(self.stdio)
        tools = await call_next(context)
        return [t for t in tools if self.gate.visible(principal, t.name)]


def _trace_parent() -> dict[str, str] | None:
    """The caller's trace context: the HTTP request's `traceparent` header, else the one in
    the MCP request's `_meta` (stdio)."""
    try:
        header = get_http_request().headers.get(telemetry.TRACEPARENT)
    except RuntimeError:
        header = None
    if header is None:
        try:
            meta = get_context().request_context.meta or {}  # type: ignore[union-attr]
            header = meta.get(telemetry.TRACEPARENT)
        except (RuntimeError, AttributeError):
            header = None
    return {telemetry.TRACEPARENT: header} if isinstance(header, str) else None


def _principal(stdio: Principal) -> Principal:
    try:
        request = get_http_request()
    except RuntimeError:
        return stdio
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise PermissionError("HTTP request without an authenticated principal")
    return principal


def build_server(
    spec: ServerSpec, policy: Policy, backend: Backend[Any], audit: AuditLog
) -> tuple[FastMCP, Gate]:
    metrics = ServerMetrics(spec.name)
    telemetry.set_service(f"autodevops-{spec.name}")
    gate = Gate(spec.name, policy, spec.scope_model, backend, audit, metrics)
    stdio = stdio_principal(policy)
    unknown = AuditUnknownTools(
        spec.name, {t.name for t in spec.tools}, audit, lambda: _principal(stdio)
    )
    server = FastMCP(
        spec.title,
        instructions=spec.instructions,
        middleware=[VisibleToolsOnly(gate, stdio), unknown],
        mask_error_details=True,
    )
    for tool_spec in spec.tools:
        server.add_tool(_gated(tool_spec, gate, stdio))
    _add_health_routes(server, gate, backend, metrics)
    return server, gate


def _gated(tool_spec: ToolSpec[Any], gate: Gate, stdio: Principal) -> GatedTool:
    return GatedTool(
        name=tool_spec.name,
        description=tool_spec.description,
        parameters=compact_schema(tool_spec.args_model.model_json_schema()),
        annotations=mt.ToolAnnotations(
            read_only_hint=tool_spec.read_only,
            destructive_hint=tool_spec.destructive,
            open_world_hint=False,
        ),
        gate=gate,
        spec=tool_spec,
        stdio=stdio,
    )


def compact_schema(schema: Any) -> Any:
    """Drop generated titles: they repeat the field names and cost every client tokens."""
    if isinstance(schema, dict):
        return {
            key: (
                {name: compact_schema(sub) for name, sub in value.items()}
                if key in ("properties", "$defs")
                else compact_schema(value)
            )
            for key, value in schema.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [compact_schema(item) for item in schema]
    return schema


def _add_health_routes(
    server: FastMCP, gate: Gate, backend: Backend[Any], metrics: ServerMetrics
) -> None:
    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "server": gate.server})

    @server.custom_route("/readyz", methods=["GET"])
    async def readyz(request: Request) -> Response:
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await backend.check_ready()
        except BackendUnavailable as exc:
            return _unready(request, exc.message)
        except TimeoutError:
            return _unready(
                request,
                f"{backend.name} at {backend.url} did not answer in {READY_TIMEOUT_SECONDS}s",
            )
        return JSONResponse({"status": "ready", "backend": backend.name})

    @server.custom_route("/metrics", methods=["GET"])
    async def prometheus_metrics(_: Request) -> Response:
        return PlainTextResponse(
            metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )


def _unready(request: Request, detail: str) -> Response:
    """Where the backend is and what failed is for the logs and authenticated callers; an
    anonymous probe learns only that the server is not ready."""
    log.warning("not ready: %s", detail)
    body = {"status": "unavailable"}
    if isinstance(request.scope.get("state", {}).get("principal"), Principal):
        body["detail"] = detail
    return JSONResponse(body, status_code=503)


async def serve_stdio(server: FastMCP) -> None:
    await server.run_stdio_async(show_banner=False, log_level="WARNING")


async def serve_http(
    server: FastMCP, policy: Policy, options: HttpOptions, audit: AuditLog | None = None
) -> None:
    """`audit` receives a line for each request the HTTP layer refuses."""
    import uvicorn

    refusals = (
        [AsgiMiddleware(AuditHttpRefusals, audit=audit, server=policy.server)] if audit else []
    )
    app = server.http_app(
        path="/mcp",
        stateless_http=True,
        json_response=True,
        host_origin_protection=False,
        middleware=[
            *refusals,
            AsgiMiddleware(
                HttpGuard,
                # Static tokens first: they need no round trip to the API server.
                authenticator=AuthenticatorChain(
                    [options.tokens, *([options.token_review] if options.token_review else [])]
                ),
                policy=policy,
                allowed_hosts=options.allowed_hosts,
                allowed_origins=options.allowed_origins,
                bind_host=options.host,
            ),
        ],
    )
    config = uvicorn.Config(
        app, host=options.host, port=options.port, log_level="warning", access_log=False
    )

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            await super().shutdown(sockets)
            # uvicorn re-raises SIGTERM once shut down, which ends the process before any
            # exit handler: the spans still buffered are sent now.
            telemetry.flush()

    await Server(config).serve()
