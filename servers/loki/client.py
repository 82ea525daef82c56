"""Loki HTTP API client, async so a slow Loki never blocks other calls.

It acts with the server's own credentials only (basic auth, or a bearer token read from a
file on every request so a rotated Secret takes effect without a restart). `ScopedLoki` is
the only client tools get: it forces every query inside the role's scope, sends the role's
tenant and enforces its guardrails, so no tool can forget them.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx2

from autodevops.common.unavailable import BackendUnavailable
from autodevops.servers.core.errors import InvalidArgument, OutOfScope
from autodevops.servers.core.http_backend import unreachable, verification

from .logql import LogQLSyntaxError
from .scope import GuardrailError, LokiScope, ScopedQuery, ScopeError, enforce_scope, selector_for

BACKEND = "Loki"
_CHECK_RUNNING = "that Loki is running and --loki-url (LOKI_URL) points at it"


class NotServed(Exception):
    """Loki does not serve this endpoint (an older version, or a component turned off)."""


class LokiClient:
    name = BACKEND

    def __init__(
        self,
        url: str,
        *,
        tenant: str | None = None,
        username: str | None = None,
        password_file: Path | None = None,
        token_file: Path | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        if token_file is not None and (username or password_file):
            raise ValueError("give either a bearer token file or basic auth, not both")
        if (username is None) != (password_file is None):
            raise ValueError("basic auth needs both --loki-username and --loki-password-file")
        self.url = url.rstrip("/")
        self.tenant = tenant
        self._username = username
        self._password_file = password_file
        self._token_file = token_file
        self._http = httpx2.AsyncClient(
            base_url=self.url,
            verify=verification(self.url),
            timeout=httpx2.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
            headers={"Accept": "application/json"},
        )

    async def check_ready(self) -> None:
        try:
            response = await self._http.get("/ready", headers=self._auth_headers())
        except httpx2.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code != 200:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"not ready (HTTP {response.status_code}: {response.text.strip()[:120]})",
                "Loki's own log; its ingesters may still be joining the ring",
            )

    def scoped(self, scope: LokiScope) -> ScopedLoki:
        return ScopedLoki(self, scope)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _auth_headers(self) -> dict[str, str]:
        """The server's own credentials, read now: a rotated file needs no restart."""
        try:
            if self._token_file is not None:
                token = self._token_file.read_text(encoding="utf-8").strip()
                return {"Authorization": f"Bearer {token}"}
            if self._username is not None and self._password_file is not None:
                password = self._password_file.read_text(encoding="utf-8").strip()
                pair = f"{self._username}:{password}".encode()
                return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        except OSError as exc:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"the credentials file could not be read ({exc.strerror})",
                "--loki-token-file / --loki-password-file and the Secret mounted there",
            ) from exc
        return {}

    async def get(self, path: str, params: Any, tenant: str | None, field: str = "query") -> Any:
        """GET an API path. Loki's 400 is the caller's to fix (it names the field); a 404
        means the endpoint is not served; everything else names Loki and what to check."""
        headers = self._auth_headers()
        org = tenant or self.tenant
        if org:
            headers["X-Scope-OrgID"] = org
        try:
            response = await self._http.get(path, params=params, headers=headers)
        except httpx2.HTTPError as exc:
            raise self._unreachable(exc) from exc
        detail = response.text.strip()[:300]
        status = response.status_code
        if status == 400:
            raise InvalidArgument(field, f"Loki refused it: {detail}")
        if status == 404:
            raise NotServed(detail)
        if status in (401, 403):
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"refused this server's credentials (HTTP {status})",
                "the credentials in --loki-token-file / --loki-password-file and, with "
                "multi-tenancy, the tenant (X-Scope-OrgID) in the policy",
            )
        if status == 429:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"is rate limiting queries (HTTP 429: {detail})",
                "wait a few seconds and retry, narrow the query, or raise the tenant's query "
                "limits in Loki",
            )
        if status != 200:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"failed the request (HTTP {status}: {detail})",
                "Loki's log, load and limits (query timeout, max query length); narrow the query",
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"answered HTTP 200 with a non-JSON body ({detail[:120]!r})",
                "that the URL points at Loki itself, not a proxy or another service",
            ) from exc
        if isinstance(body, dict) and body.get("status", "success") != "success":
            raise InvalidArgument(field, f"Loki refused it: {body.get('error', body)}")
        return body.get("data", body) if isinstance(body, dict) and "status" in body else body

    def _unreachable(self, exc: httpx2.HTTPError) -> BackendUnavailable:
        return unreachable(
            BACKEND,
            self.url,
            exc,
            slow="Loki's health and load, or narrow the query (shorter range, more matchers)",
            down=_CHECK_RUNNING,
        )


class ScopedLoki:
    """A Loki client bound to one role's scope and guardrails."""

    def __init__(self, client: LokiClient, scope: LokiScope) -> None:
        self._client = client
        self.scope = scope

    @property
    def scoped(self) -> bool:
        return bool(self.scope.labels)

    def query(self, text: str, kind: str, field: str = "query") -> ScopedQuery:
        """The query forced inside the scope; refused when it cannot be made safe."""
        try:
            return enforce_scope(text, self.scope, kind=kind)
        except LogQLSyntaxError as exc:
            raise InvalidArgument(field, f"not valid LogQL: {exc}") from exc
        except GuardrailError as exc:
            raise InvalidArgument(field, str(exc)) from exc
        except ScopeError as exc:
            raise OutOfScope(f"'{field}' cannot be limited to your scope: {exc}") from exc

    def selector(self, text: str | None, field: str = "selector") -> str | None:
        """A bare stream selector in scope; without one, the scope's own (None if unscoped)."""
        if text is None:
            return selector_for(self.scope.labels) if self.scoped else None
        scoped = self.query(text, "log", field)
        if not scoped.bare_selector:
            raise InvalidArgument(
                field,
                'must be a stream selector only, such as {app="api", namespace="team-a"}, '
                "without line filters or pipeline stages",
            )
        return scoped.text

    def check_range(self, start: float, end: float, query: ScopedQuery | None, field: str) -> None:
        """The range a call reads (plus the longest [range] inside a metric query) is bounded."""
        if end < start:
            raise InvalidArgument(field, "the start must be before the end")
        inner = query.longest_range if query else 0.0
        limit = self.scope.max_range_seconds
        if end - start + inner > limit:
            inside = f" ({_span(end - start)} plus the query's [{inner:g}s] range)" if inner else ""
            raise InvalidArgument(
                field,
                f"the call would read {_span(end - start + inner)}{inside}; your role may "
                f"read at most {self.scope.max_range} at a time. "
                "Use a shorter since/start, or find when it happened first with "
                "query_metrics or volume",
            )

    async def get(self, path: str, params: Any, field: str = "query") -> Any:
        return await self._client.get(path, params, self.scope.tenant, field)


def _span(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.3g}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.3g}h"
    return f"{seconds / 60:.3g}m" if seconds >= 60 else f"{seconds:.3g}s"
