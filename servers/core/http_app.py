"""The server over streamable HTTP: the MCP endpoint behind the HTTP guard, with health,
readiness and metrics beside it, served by uvicorn."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from autodevops.common import telemetry
from autodevops.common.identity import Principal, TokenStore
from autodevops.common.unavailable import BackendUnavailable

from .app import McpServer
from .audit import AuditLog
from .gate import Gate
from .http_guard import ASGIApp, HttpGuard
from .identity import Authenticator, AuthenticatorChain
from .refusals import AuditHttpRefusals

if TYPE_CHECKING:
    from .metrics import ServerMetrics

READY_TIMEOUT_SECONDS = 3.0
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
log = logging.getLogger("autodevops.server")


@dataclass
class HttpOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    tokens: TokenStore = field(default_factory=lambda: TokenStore([]))
    token_review: Authenticator | None = None
    allowed_hosts: list[str] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)


def http_app(server: McpServer, options: HttpOptions, audit: AuditLog | None = None) -> ASGIApp:
    """`audit` receives a line for each request the HTTP layer refuses."""
    from .metrics import ServerMetrics

    gate = server.gate
    # Calls are counted where they can be scraped: over HTTP (stdio needs no Prometheus client).
    metrics = gate.metrics = gate.metrics or ServerMetrics(gate.server)
    app = server.protocol.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
        # Host and Origin are the guard's: it knows the names this server was given.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=options.host,
        custom_starlette_routes=_probes(gate, metrics),
    )
    guarded: ASGIApp = HttpGuard(
        app,
        # Static tokens first: they need no round trip to the API server.
        authenticator=AuthenticatorChain(
            [options.tokens, *([options.token_review] if options.token_review else [])]
        ),
        policy=gate.policy,
        allowed_hosts=options.allowed_hosts,
        allowed_origins=options.allowed_origins,
        bind_host=options.host,
    )
    return AuditHttpRefusals(guarded, audit=audit, server=gate.server) if audit else guarded


def _probes(gate: Gate, counted: ServerMetrics) -> list[Route]:
    backend = gate.backend

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "server": gate.server})

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

    async def metrics(_: Request) -> Response:
        return PlainTextResponse(
            counted.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def _unready(request: Request, detail: str) -> Response:
    """Where the backend is and what failed is for the logs and authenticated callers; an
    anonymous probe learns only that the server is not ready."""
    log.warning("not ready: %s", detail)
    body = {"status": "unavailable"}
    if isinstance(request.scope.get("state", {}).get("principal"), Principal):
        body["detail"] = detail
    return JSONResponse(body, status_code=503)


async def serve_http(
    server: McpServer, options: HttpOptions, audit: AuditLog | None = None
) -> None:
    import uvicorn

    config = uvicorn.Config(
        http_app(server, options, audit),
        host=options.host,
        port=options.port,
        log_level="warning",
        access_log=False,
    )

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            await super().shutdown(sockets)
            # uvicorn re-raises SIGTERM once shut down, which ends the process before any
            # exit handler: the spans still buffered are sent now.
            telemetry.flush()

    await Server(config).serve()
