"""Tempo HTTP API client, async, with the server's own credentials and the role's tenant.

`ScopedTempo` is the only client tools get: it forces every TraceQL query inside the role's
scope, sends the role's tenant as `X-Scope-OrgID`, and says which spans of a trace are in
scope, so no tool can forget either.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2

from autodevops.common.unavailable import BackendUnavailable
from autodevops.servers.core.errors import GateError, InvalidArgument, NotFound, OutOfScope
from autodevops.servers.core.http_backend import unreachable, verification

from . import traceql
from .scope import TempoScope
from .trace import Span, TraceFormatError, read_trace

BACKEND = "Tempo"
TENANT_HEADER = "X-Scope-OrgID"
_CHECK_RUNNING = "that Tempo is running and --tempo-url (TEMPO_URL) points at its HTTP port"
_NO_ROUTE = "404 page not found"


class Unsupported(GateError):
    """The Tempo in use does not offer this API (too old, or the feature is off)."""

    reason = "unsupported"
    denied = False


class TempoClient:
    name = BACKEND

    def __init__(
        self,
        url: str,
        *,
        tenant: str | None = None,
        token_file: Path | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        self.where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        self.tenant = tenant
        self._token_file = token_file
        self._token: tuple[float, str] | None = None
        self._trace_v2: bool | None = None
        self._http = httpx2.AsyncClient(
            base_url=self.url,
            verify=verification(self.url),
            timeout=httpx2.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
            headers={"Accept": "application/json"},
        )

    async def check_ready(self) -> None:
        response = await self._send("/ready", None, {})
        if response.status_code != 200:
            raise BackendUnavailable(
                BACKEND,
                self.where,
                f"not ready (HTTP {response.status_code}: {response.text[:120].strip()})",
                "Tempo's own log; its ingesters may still be joining the ring",
            )

    def scoped(self, scope: TempoScope) -> ScopedTempo:
        return ScopedTempo(self, scope)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self, tenant: str | None) -> dict[str, str]:
        headers = {}
        if tenant or self.tenant:
            headers[TENANT_HEADER] = str(tenant or self.tenant)
        if self._token_file is not None:
            headers["Authorization"] = f"Bearer {self._read_token()}"
        return headers

    def _read_token(self) -> str:
        """Re-read when the file changes, so a rotated Secret needs no restart."""
        assert self._token_file is not None
        try:
            mtime = self._token_file.stat().st_mtime
            if self._token is None or self._token[0] != mtime:
                self._token = (mtime, self._token_file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise BackendUnavailable(
                BACKEND,
                self.where,
                f"cannot read the token file ({exc.strerror})",
                "--tempo-token-file and the Secret mounted there",
            ) from exc
        return self._token[1]

    async def _send(self, path: str, tenant: str | None, params: Any) -> httpx2.Response:
        try:
            return await self._http.get(path, params=params, headers=self._headers(tenant))
        except httpx2.HTTPError as exc:
            raise unreachable(
                BACKEND,
                self.where,
                exc,
                slow="Tempo's health and load, or narrow the request (shorter range, a smaller "
                "limit)",
                down=_CHECK_RUNNING,
            ) from exc

    async def get(
        self, path: str, params: Any, *, tenant: str | None, field: str, missing: str = ""
    ) -> Any:
        """GET a JSON answer. A 400 is the caller's to fix and names `field`; a 404 is
        `missing` (a trace not found) or, when Tempo has no such route, `Unsupported`."""
        response = await self._send(path, tenant, params)
        status, body = response.status_code, response.text.strip()
        if status == 200:
            try:
                return response.json()
            except ValueError as exc:
                raise BackendUnavailable(
                    BACKEND,
                    self.where,
                    f"answered with a non-JSON body ({body[:120]!r})",
                    "that the URL points at Tempo's HTTP port, not a proxy or another service",
                ) from exc
        if status == 404 and body == _NO_ROUTE:
            raise Unsupported(f"this Tempo has no {path} endpoint")
        if status == 404 and missing:
            raise NotFound(missing)
        if status == 400:
            raise InvalidArgument(field, f"Tempo refused it: {body[:400]}")
        if status in (401, 403):
            raise BackendUnavailable(
                BACKEND,
                self.where,
                f"refused the server's credentials (HTTP {status}: {body[:120]})",
                "--tempo-token-file and the tenant (X-Scope-OrgID) of the role",
            )
        if status == 429:
            raise BackendUnavailable(
                BACKEND,
                self.where,
                f"is rate-limiting this server (HTTP 429: {body[:120]})",
                "the tenant's query limits in Tempo's overrides, or ask less often",
            )
        raise BackendUnavailable(
            BACKEND,
            self.where,
            f"answered HTTP {status}: {body[:200]}",
            "Tempo's log and load; narrow the request",
        )

    async def trace(
        self, trace_id: str, tenant: str | None, params: Mapping[str, str], missing: str
    ) -> Any:
        """Trace by ID: the v2 endpoint where Tempo has it (2.5+), else v1."""
        if self._trace_v2 is not False:
            try:
                body = await self.get(
                    f"/api/v2/traces/{trace_id}",
                    params,
                    tenant=tenant,
                    field="trace_id",
                    missing=missing,
                )
                self._trace_v2 = True
                return body
            except Unsupported:
                self._trace_v2 = False
        return await self.get(
            f"/api/traces/{trace_id}", params, tenant=tenant, field="trace_id", missing=missing
        )


class ScopedTempo:
    def __init__(self, client: TempoClient, scope: TempoScope) -> None:
        self._client = client
        self.scope = scope

    @property
    def budget(self) -> int:
        return self.scope.max_spans

    def query(self, text: str, field: str = "query") -> str:
        """The query forced inside the scope (canonical when unscoped); refused when it
        cannot be made safe."""
        try:
            if not self.scope.scoped:
                return traceql.canonical(text)
            return traceql.enforce_scope(text, self.scope.attribute, self.scope.values)
        except traceql.TraceQLSyntaxError as exc:
            raise InvalidArgument(field, f"not TraceQL this server accepts: {exc}") from exc
        except traceql.ScopeError as exc:
            raise OutOfScope(f"'{field}' cannot be limited to your scope: {exc}") from exc

    def in_scope(self, span: Span) -> bool:
        return self.scope.visible(span.resource)

    async def get(self, path: str, params: Any, field: str) -> Any:
        return await self._client.get(path, params, tenant=self.scope.tenant, field=field)

    async def trace(self, trace_id: str, params: Mapping[str, str]) -> list[Span]:
        """The trace's spans. A trace with no span in scope reads exactly as one that does
        not exist, so the answer tells a scoped role nothing about other namespaces."""
        where = " in your scope" if self.scope.scoped else ""
        missing = (
            f"trace {trace_id} was not found{where} (check the ID, and the time range if given)"
        )
        body = await self._client.trace(
            quote(trace_id, safe=""), self.scope.tenant, params, missing
        )
        try:
            spans = read_trace(body)
        except TraceFormatError as exc:
            raise BackendUnavailable(
                BACKEND,
                self._client.where,
                f"sent a trace this server cannot read ({exc})",
                "that --tempo-url points at Tempo's query frontend",
            ) from exc
        if not spans or not any(self.in_scope(s) for s in spans):
            raise NotFound(missing)
        return spans
