"""One MCP session per server, one merged tool catalogue, and calls that never take the pool down.

A server that is down loses its tools from the catalogue and reports why; the others keep
working. A dead session (a restarted server, a crashed stdio process) is replaced on the next
call or `refresh()`. Every call is bounded by a timeout and ends in a `CallResult`: tool errors,
timeouts and unreachable servers are outcomes the model can read, not exceptions.

Hooks wrap every call, as fastmcp's middleware wraps requests, so concerns such as a cache or a
record of calls compose on one pool instead of each needing a subclass.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol

import mcp_types as mt
from fastmcp import Client
from mcp import MCPError

from autodevops.common import telemetry

from .endpoints import Endpoint, HttpEndpoint

SEPARATOR = "__"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")

Outcome = Literal["ok", "error", "timeout", "unavailable", "unknown_tool"]


@dataclass(frozen=True)
class PoolTool:
    """A tool in the merged catalogue; `name` is prefixed with its server's name."""

    name: str
    server: str
    remote_name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool
    destructive: bool


@dataclass(frozen=True)
class ServerStatus:
    name: str
    target: str
    up: bool
    reason: str
    tools: int
    since: float


@dataclass(frozen=True)
class CallResult:
    tool: str
    outcome: Outcome
    text: str
    seconds: float


@dataclass(frozen=True)
class ToolCall:
    """A call on its way through the hooks; `tool` is its catalogue entry when the pool knows
    it (None for an unknown name or a server that is down: the call still goes on)."""

    name: str
    arguments: dict[str, Any]
    tool: PoolTool | None
    time_limit: float


CallNext = Callable[[ToolCall], Awaitable[CallResult]]


class CallHook(Protocol):
    """Wraps a pool's calls. It may answer itself without `call_next` (the hooks after it and
    the server are then skipped), change the call it passes on, or look at the result.

    The pool's `hooks` run in list order: the first sees a call first and its result last. The
    timeout of the call bounds only the server's part, not the hooks' own work.
    """

    async def __call__(self, call: ToolCall, call_next: CallNext) -> CallResult: ...


def prefixed(server: str, tool: str) -> str:
    return f"{server}{SEPARATOR}{_UNSAFE.sub('_', tool)}"


@dataclass
class _Server:
    endpoint: Endpoint
    client: Client[Any] | None = None
    tools: dict[str, PoolTool] = field(default_factory=dict)
    reason: str = "not connected yet"
    since: float = field(default_factory=time.time)
    last_attempt: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def up(self) -> bool:
        return self.client is not None and self.client.is_connected()


class McpPool:
    """Sessions to several MCP servers behind one catalogue of server-prefixed tool names."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        hooks: Sequence[CallHook] = (),
        call_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retry_interval: float = 5.0,
    ) -> None:
        names = [endpoint.name for endpoint in endpoints]
        if len(set(names)) != len(names):
            raise ValueError(f"server names must be unique: {names}")
        self._servers = {endpoint.name: _Server(endpoint) for endpoint in endpoints}
        self.call_timeout = call_timeout
        self.connect_timeout = connect_timeout
        self.retry_interval = retry_interval
        chain: CallNext = self._send
        for hook in reversed(hooks):
            chain = _link(hook, chain)
        self._chain = chain

    async def __aenter__(self) -> McpPool:
        await self.refresh(force=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def refresh(self, *, force: bool = False) -> None:
        """Connect the servers that are down; without `force`, at most once per retry interval."""
        await asyncio.gather(
            *(self._ensure(server, force=force) for server in self._servers.values())
        )

    async def close(self) -> None:
        await asyncio.gather(*(self._drop(server, "closed") for server in self._servers.values()))

    def tools(self) -> list[PoolTool]:
        """The catalogue: tools of the servers that are up, in configuration order."""
        return [tool for s in self._servers.values() if s.up for tool in s.tools.values()]

    def tool(self, name: str) -> PoolTool | None:
        server = self._server_of(name)
        if server is None or not server.up:
            return None
        return server.tools.get(name)

    def status(self) -> list[ServerStatus]:
        return [
            ServerStatus(
                name=name,
                target=s.endpoint.describe(),
                up=s.up,
                reason="" if s.up else s.reason,
                tools=len(s.tools) if s.up else 0,
                since=s.since,
            )
            for name, s in self._servers.items()
        ]

    async def call(
        self, name: str, arguments: dict[str, Any], *, time_limit: float | None = None
    ) -> CallResult:
        """Call a catalogue tool through the hooks; the result is text for the model whatever
        happens."""
        limit = self.call_timeout if time_limit is None else time_limit
        return await self._chain(ToolCall(name, arguments, self.tool(name), limit))

    async def _send(self, call: ToolCall) -> CallResult:
        """The end of the chain: the call to the server, bounded by its time limit."""
        started = time.monotonic()
        name, arguments, limit = call.name, call.arguments, call.time_limit
        server = self._server_of(name)

        def done(outcome: Outcome, text: str) -> CallResult:
            return CallResult(name, outcome, text, time.monotonic() - started)

        if server is None:
            return done("unknown_tool", f"unknown tool {name!r}")
        with telemetry.span(
            f"mcp {name}", kind="client", server=server.endpoint.name, tool=name
        ) as span:
            try:
                async with asyncio.timeout(limit):
                    result = await self._call(server, name, arguments, done)
            except TimeoutError:
                result = done(
                    "timeout",
                    f"{server.endpoint.name}: tool {name} did not answer within {limit:g}s; "
                    "narrow the request or try again later",
                )
            span.set(outcome=result.outcome)
            if result.outcome != "ok":
                span.fail(result.outcome)
            return result

    async def _call(
        self,
        server: _Server,
        name: str,
        arguments: dict[str, Any],
        done: Callable[[Outcome, str], CallResult],
    ) -> CallResult:
        for attempt in (1, 2):
            client = await self._ensure(server, force=attempt == 2)
            if client is None:
                return done("unavailable", self._down_message(server))
            tool = server.tools.get(name)
            if tool is None:
                return done("unknown_tool", f"unknown tool {name!r}")
            try:
                result = await client.call_tool(
                    tool.remote_name,
                    arguments,
                    raise_on_error=False,
                    meta=telemetry.carrier() or None,
                )
            except Exception as exc:  # the transport raises many kinds
                if isinstance(exc, MCPError) and exc.code != mt.CONNECTION_CLOSED:
                    return done("error", f"{server.endpoint.name}: {exc.message}")
                await self._drop(server, _describe_error(server.endpoint, exc))
                if tool.read_only and attempt == 1:
                    continue  # a read is safe to repeat on a fresh session
                return done(
                    "unavailable",
                    f"{self._down_message(server)}. The call may or may not have run.",
                )
            outcome: Outcome = "error" if result.is_error else "ok"
            return done(outcome, _text_of(result.content, result.structured_content))
        return done("unavailable", self._down_message(server))

    def _server_of(self, name: str) -> _Server | None:
        prefix, sep, _ = name.partition(SEPARATOR)
        return self._servers.get(prefix) if sep else None

    def _down_message(self, server: _Server) -> str:
        return f"MCP server {server.endpoint.name} is unavailable: {server.reason}"

    async def _ensure(self, server: _Server, *, force: bool) -> Client[Any] | None:
        """The server's live client, reconnecting when its session is gone."""
        async with server.lock:
            if server.up:
                return server.client
            if server.client is not None:
                await self._drop_locked(server, "the session closed (server restarted or exited)")
            now = time.monotonic()
            if not force and now - server.last_attempt < self.retry_interval:
                return None
            server.last_attempt = now
            client: Client[Any] = Client(
                server.endpoint.transport(), init_timeout=self.connect_timeout
            )
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await client.__aenter__()  # type: ignore[no-untyped-call]
                    listed = await client.list_tools()
            except asyncio.CancelledError:
                await _close_quietly(client)
                raise
            except (Exception, TimeoutError) as exc:
                await _close_quietly(client)
                refusal = None
                if isinstance(server.endpoint, HttpEndpoint) and not isinstance(exc, TimeoutError):
                    refusal = await server.endpoint.http_refusal()
                self._mark_down(server, refusal or _describe_error(server.endpoint, exc))
                return None
            server.client = client
            server.tools = {
                tool.name: tool
                for tool in (_pool_tool(server.endpoint.name, item) for item in listed)
            }
            server.reason = ""
            server.since = time.time()
            return client

    async def _drop(self, server: _Server, reason: str) -> None:
        async with server.lock:
            await self._drop_locked(server, reason)

    async def _drop_locked(self, server: _Server, reason: str) -> None:
        client, server.client = server.client, None
        if client is not None:
            await _close_quietly(client)
        self._mark_down(server, reason)

    def _mark_down(self, server: _Server, reason: str) -> None:
        if reason != server.reason:
            server.reason = reason
            server.since = time.time()


def _link(hook: CallHook, call_next: CallNext) -> CallNext:
    async def run(call: ToolCall) -> CallResult:
        return await hook(call, call_next)

    return run


def _pool_tool(server: str, tool: mt.Tool) -> PoolTool:
    hints = tool.annotations
    return PoolTool(
        name=prefixed(server, tool.name),
        server=server,
        remote_name=tool.name,
        description=tool.description or "",
        input_schema=dict(tool.input_schema or {}),
        read_only=bool(hints and hints.read_only_hint),
        destructive=bool(hints is None or hints.destructive_hint is not False),
    )


def _text_of(content: Sequence[mt.ContentBlock], structured: dict[str, Any] | None) -> str:
    parts = [
        block.text if isinstance(block, mt.TextContent) else f"[{block.type} content omitted]"
        for block in content
    ]
    if not parts and structured is not None:
        parts.append(json.dumps(structured, separators=(",", ":"), default=str))
    return "\n".join(parts)


def _describe_error(endpoint: Endpoint, exc: BaseException) -> str:
    """One line that says what failed and what to check, without a traceback."""
    if isinstance(exc, TimeoutError):
        return f"no answer from {endpoint.describe()} (timed out)"
    message = str(exc).removeprefix("Client failed to connect: ") or type(exc).__name__
    return f"cannot reach {endpoint.describe()}: {message}"


async def _close_quietly(client: Client[Any]) -> None:
    """Closing a session whose server is gone raises transport errors; nothing is left to do."""
    with suppress(Exception, TimeoutError):
        async with asyncio.timeout(5):
            await client.close()  # type: ignore[no-untyped-call]
