"""HTTP front door: Host and Origin allow-lists (DNS-rebinding protection) and bearer tokens.

On a loopback bind, a page served from the same machine (a loopback Origin, any port) may
call, as the MCP specification and SDKs allow; any other Origin must be listed. Foreign Host
names are refused whatever the Origin says, which is what stops DNS rebinding.

A token nobody accepts is a 401; a token that cannot be checked because the authority that
verifies it is unreachable is a 503, so a client does not throw away a good token.

A caller acting for a person names them in `X-Autodevops-On-Behalf-Of`; the policy decides
whether it may (403 otherwise) and which of the asserted roles the person gets.

Health and metrics paths answer without a token (probes and scrapers carry none) and
reveal nothing about the backend's data; readiness details go to authenticated callers only.
Any other protocol than HTTP (a WebSocket) is refused.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote, urlsplit

from autodevops.common.headers import ON_BEHALF_OF_HEADER, ON_BEHALF_OF_ROLES_HEADER
from autodevops.common.identity import DelegationRefused, split_roles

from .identity import Authenticator, AuthUnavailable, act_for
from .policy import Policy

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


class HttpGuard:
    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        policy: Policy,
        allowed_hosts: list[str],
        allowed_origins: list[str],
        bind_host: str = "127.0.0.1",
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.policy = policy
        self.allowed_hosts = LOOPBACK_HOSTS | {h.lower() for h in allowed_hosts}
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}
        self.loopback_origins_allowed = is_loopback(bind_host)

    def origin_allowed(self, origin: str) -> bool:
        if origin.rstrip("/").lower() in self.allowed_origins:
            return True
        if not self.loopback_origins_allowed:
            return False
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and is_loopback(parts.hostname or "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            # Nothing here speaks WebSocket or any other protocol, and none of it is checked.
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin):
            await _refuse(send, 403, "origin not allowed", f"Origin '{origin}' is not allowed")
            return
        path = scope.get("path", "")
        if path in OPEN_PATHS:
            await self._open(scope, receive, send, headers)
            return
        host = _hostname(headers.get("host", ""))
        if host not in self.allowed_hosts:
            await _refuse(
                send,
                403,
                "host not allowed",
                f"Host '{host}' is not allowed; start the server with --allowed-host {host}",
            )
            return
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        try:
            principal = (
                await self.authenticator.authenticate(token)
                if scheme.lower() == "bearer" and token
                else None
            )
        except AuthUnavailable as exc:
            await _refuse(send, 503, "authentication unavailable", str(exc))
            return
        if principal is None:
            await _refuse(send, 401, "unauthorized", "a valid bearer token is required")
            return
        scope.setdefault("state", {})["caller"] = principal
        person = headers.get(ON_BEHALF_OF_HEADER.lower())
        if person is not None:
            try:
                person = unquote(person, errors="strict")
            except UnicodeDecodeError:
                await _refuse(
                    send, 400, "bad request", f"{ON_BEHALF_OF_HEADER}: not percent-encoded UTF-8"
                )
                return
        asserted = headers.get(ON_BEHALF_OF_ROLES_HEADER.lower())
        if person is not None:
            try:
                principal = act_for(self.policy, principal, person, split_roles(asserted or ""))
            except DelegationRefused as exc:
                await _refuse(send, 403, "delegation refused", str(exc))
                return
        elif asserted is not None:
            await _refuse(
                send,
                400,
                "bad request",
                f"{ON_BEHALF_OF_ROLES_HEADER} needs {ON_BEHALF_OF_HEADER}: the person they are for",
            )
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _open(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]
    ) -> None:
        """Probes carry no token; a caller that sends a good one gets readiness details."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scope.get("path") == "/readyz" and scheme.lower() == "bearer" and token.strip():
            try:
                principal = await self.authenticator.authenticate(token.strip())
            except AuthUnavailable:
                principal = None
            if principal is not None:
                scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1), bracketed or not."""
    host = host.strip().lower().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if ":" in host else host


async def _refuse(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="autodevops"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
