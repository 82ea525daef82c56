"""Builds the MCP server of a `ServerSpec` and a policy on the `mcp` SDK's low-level server,
and runs it over stdio.

The low-level server is the protocol and nothing else: every `tools/call` goes to the gate,
`tools/list` shows a role only the tools it may call, each listed tool is made once. A
higher-level framework would import more than the servers use and send each result twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mcp_types as mt
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server

from autodevops.common import telemetry
from autodevops.common.identity import Principal
from autodevops.common.version import __version__

from .audit import AuditLog
from .gate import Gate
from .identity import stdio_principal
from .policy import Policy
from .refusals import unknown_tool_record
from .schema import compact_schema
from .spec import Backend, ServerSpec, ToolSpec

Context = ServerRequestContext[Any, Any]
Page = mt.PaginatedRequestParams | None


@dataclass
class McpServer:
    """The SDK's server and the gate its tool calls pass, for a transport to run."""

    protocol: Server[Any]
    gate: Gate
    stdio: Principal


def build_server(
    spec: ServerSpec, policy: Policy, backend: Backend[Any], audit: AuditLog
) -> McpServer:
    telemetry.set_service(f"autodevops-{spec.name}")
    gate = Gate(spec.name, policy, spec.scope_model, backend, audit)
    stdio = stdio_principal(policy)
    tools = {t.name: t for t in spec.tools}
    catalogue: dict[str, mt.Tool] = {}

    def listed(name: str) -> mt.Tool:
        """A tool as listed, its schema made when first asked for: a role that sees few
        tools never pays for the others' (pydantic's JSON schemas are slow to make)."""
        if name not in catalogue:
            catalogue[name] = _listed(tools[name])
        return catalogue[name]

    async def list_tools(ctx: Context, params: Page) -> mt.ListToolsResult:
        principal = _principal(ctx, stdio)
        visible = [listed(name) for name in tools if gate.visible(principal, name)]
        return mt.ListToolsResult(tools=visible)

    async def call_tool(ctx: Context, params: mt.CallToolRequestParams) -> mt.CallToolResult:
        principal = _principal(ctx, stdio)
        arguments = dict(params.arguments or {})
        tool = tools.get(params.name)
        if tool is None:
            record = unknown_tool_record(gate.server, principal, params.name, arguments)
            audit.write(record)
            return _result(f"Unknown tool: {record.tool!r}", is_error=True)
        with telemetry.span(
            f"tools/call {tool.name}",
            kind="server",
            parent=_trace_parent(ctx),
            server=gate.server,
            tool=tool.name,
        ) as span:
            result = await gate.call(tool, arguments, principal)
            if result.audit is not None:
                done = result.audit
                span.set(
                    role=done.role,
                    decision=done.decision,
                    outcome=done.outcome,
                    transport=done.transport,
                )
                if done.outcome != "ok":
                    span.fail(done.reason if done.decision == "deny" else done.outcome)
        return _result(result.text, result.is_error)

    server: Server[Any] = Server(
        spec.title,
        version=__version__,
        instructions=spec.instructions,
        get_tool_input_schema=lambda name: listed(name).input_schema if name in tools else None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=_no_resources,
        on_list_resource_templates=_no_resource_templates,
        on_list_prompts=_no_prompts,
    )
    # Clients may set a log level; the servers send no log messages, so it changes nothing.
    server.add_request_handler("logging/setLevel", mt.SetLevelRequestParams, _set_level)
    # The SDK's own span per message goes to the global tracer provider, which the suite
    # leaves unset (error texts there can echo arguments): the gate's span is the one kept.
    server.middleware.clear()
    return McpServer(server, gate, stdio)


def _listed(tool: ToolSpec[Any]) -> mt.Tool:
    return mt.Tool(
        name=tool.name,
        description=tool.description,
        input_schema=compact_schema(tool.args_model.model_json_schema()),
        annotations=mt.ToolAnnotations(
            read_only_hint=tool.read_only,
            destructive_hint=tool.destructive,
            open_world_hint=False,
        ),
    )


def _result(text: str, is_error: bool) -> mt.CallToolResult:
    """A result is sent once, as one text block: no structured copy beside it."""
    return mt.CallToolResult(content=[mt.TextContent(type="text", text=text)], is_error=is_error)


def _principal(ctx: Context, stdio: Principal) -> Principal:
    """The HTTP guard's authenticated caller; without an HTTP request, the local user."""
    if ctx.request is None:
        return stdio
    principal = ctx.request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise PermissionError("HTTP request without an authenticated principal")
    return principal


def _trace_parent(ctx: Context) -> dict[str, str] | None:
    """The caller's trace context: the HTTP request's `traceparent` header, else the one in
    the MCP request's `_meta` (stdio)."""
    header = ctx.request.headers.get(telemetry.TRACEPARENT) if ctx.request is not None else None
    if header is None and ctx.meta is not None:
        header = ctx.meta.get(telemetry.TRACEPARENT)
    return {telemetry.TRACEPARENT: header} if isinstance(header, str) else None


async def _no_resources(ctx: Context, params: Page) -> mt.ListResourcesResult:
    return mt.ListResourcesResult(resources=[])


async def _no_resource_templates(ctx: Context, params: Page) -> mt.ListResourceTemplatesResult:
    return mt.ListResourceTemplatesResult(resource_templates=[])


async def _no_prompts(ctx: Context, params: Page) -> mt.ListPromptsResult:
    return mt.ListPromptsResult(prompts=[])


async def _set_level(ctx: Context, params: mt.SetLevelRequestParams) -> mt.EmptyResult:
    return mt.EmptyResult()


async def serve_stdio(server: McpServer) -> None:
    from mcp.server.stdio import stdio_server

    protocol = server.protocol
    async with stdio_server() as (read, write):
        await protocol.run(read, write, protocol.create_initialization_options())
