"""Prometheus HTTP API client, async so a slow Prometheus never blocks other calls.

`ScopedPrometheus` is the only client tools get: it rewrites every PromQL selector to the
role's label scope and filters alerts and targets, so no tool can forget the scope.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any
from urllib.parse import quote

import httpx2

from autodevops.common.redact import is_redacted
from autodevops.common.unavailable import BackendUnavailable
from autodevops.servers.core.errors import InvalidArgument, OutOfScope
from autodevops.servers.core.http_backend import unreachable, verification

from .scope import (
    PrometheusScope,
    PromQLSyntaxError,
    ScopeError,
    enforce_scope,
    label_uses,
    parse_check,
)

BACKEND = "Prometheus"
# How long "label L has redacted values in scope S" is remembered, and for how many (S, L).
REDACTED_LABELS_TTL_SECONDS = 30.0
REDACTED_LABELS_MAX = 1024
_CHECK_RUNNING = "that Prometheus is running and --prometheus-url (PROMETHEUS_URL) points at it"


class PrometheusClient:
    name = BACKEND

    def __init__(self, url: str, timeout_seconds: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = httpx2.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds))
        self._redacted: OrderedDict[tuple[str, str], tuple[float, bool]] = OrderedDict()

    async def check_ready(self) -> None:
        try:
            response = await self._http.get("/-/ready")
        except httpx2.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code != 200:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"not ready (HTTP {response.status_code})",
                "Prometheus' own log; it may still be replaying its WAL",
            )

    def scoped(self, scope: PrometheusScope) -> ScopedPrometheus:
        return ScopedPrometheus(self, scope.labels)

    @cached_property
    def _http(self) -> httpx2.AsyncClient:
        """Made on the first request: its connection stack is not needed to list tools."""
        return httpx2.AsyncClient(
            base_url=self.url,
            verify=verification(self.url),
            timeout=self._timeout,
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        if "_http" in self.__dict__:
            await self._http.aclose()

    async def get(self, path: str, params: Any = None, field: str = "query") -> Any:
        """GET an API path; `bad_data` and `execution` errors are the caller's to fix (a bad
        expression, a regex, too many samples), so they name the field."""
        try:
            response = await self._http.get(path, params=params)
        except httpx2.HTTPError as exc:
            raise self._unreachable(exc) from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"answered HTTP {response.status_code} with a non-JSON body "
                f"({response.text[:120]!r})",
                "that the URL points at Prometheus itself, not a proxy or another service",
            ) from exc
        if body.get("status") == "success":
            return body.get("data")
        error_type, error = body.get("errorType", "unknown"), body.get("error", "no detail")
        if error_type in ("bad_data", "execution"):
            raise InvalidArgument(field, error)
        raise BackendUnavailable(
            BACKEND,
            self.url,
            f"query failed ({error_type}): {error}",
            "Prometheus' load and limits (query.timeout, query.max-samples); narrow the query",
        )

    async def has_redacted_values(self, label: str, scope_selector: str | None) -> bool:
        """Whether any value of `label` on the series in scope would be redacted in a result;
        remembered for a short while, since most queries match on the same few labels."""
        key = (scope_selector or "", label)
        cached = self._redacted.get(key)
        if cached is not None and time.monotonic() - cached[0] < REDACTED_LABELS_TTL_SECONDS:
            return cached[1]
        params = [("match[]", scope_selector)] if scope_selector else []
        values = await self.get(f"/api/v1/label/{quote(label, safe='')}/values", params)
        found = any(is_redacted(f'{label}="{v}"') or is_redacted(str(v)) for v in values or [])
        self._redacted[key] = (time.monotonic(), found)
        self._redacted.move_to_end(key)
        while len(self._redacted) > REDACTED_LABELS_MAX:
            self._redacted.popitem(last=False)
        return found

    def _unreachable(self, exc: httpx2.HTTPError) -> BackendUnavailable:
        return unreachable(
            BACKEND,
            self.url,
            exc,
            slow="Prometheus' health and load, or narrow the query",
            down=_CHECK_RUNNING,
        )


class ScopedPrometheus:
    def __init__(self, client: PrometheusClient, labels: Mapping[str, Sequence[str]]) -> None:
        self._client = client
        self.labels = labels

    @property
    def scoped(self) -> bool:
        return bool(self.labels)

    def promql(self, expr: str, field: str) -> str:
        """The expression forced inside the scope; refused when it cannot be made safe."""
        try:
            if not self.labels:
                parse_check(expr)
                return expr
            return enforce_scope(expr, self.labels)
        except PromQLSyntaxError as exc:
            raise InvalidArgument(field, f"not valid PromQL: {exc}") from exc
        except ScopeError as exc:
            raise OutOfScope(f"'{field}' cannot be limited to your scope: {exc}") from exc

    async def checked_promql(self, expr: str, field: str) -> str:
        """`promql`, and refused when the query compares or moves the values of a label
        whose values are redacted (see `label_uses`): a guess must not be answerable."""
        rewritten = self.promql(expr, field)
        uses = {n: how for n, how in label_uses(expr).items() if n not in self.labels}
        scope_selector = self.promql('{__name__=~".+"}', field) if self.labels else None
        for label, how in uses.items():
            if await self._client.has_redacted_values(label, scope_selector):
                raise OutOfScope(
                    f"'{field}' uses {how}, and values of the label {label} are redacted: "
                    f"comparing or copying them could reveal them. Query without {how}; "
                    f"group by {label} to see which series exist"
                )
        return rewritten

    async def checked_selectors(self, match: Sequence[str], field: str = "match") -> list[str]:
        """`selectors`, each checked as `checked_promql` checks a query."""
        if match:
            return [await self.checked_promql(m, field) for m in match]
        return self.selectors(match, field)

    def selectors(self, match: Sequence[str], field: str = "match") -> list[str]:
        """Series selectors in scope; a scoped role with none gets the scope itself."""
        if match:
            return [self.promql(m, field) for m in match]
        if self.labels:
            return [self.promql('{__name__=~".+"}', field)]
        return []

    def in_scope(self, labels: Mapping[str, str]) -> bool:
        """An item is visible when each scoped label is present with an allowed value."""
        return all(labels.get(name) in allowed for name, allowed in self.labels.items())

    async def get(self, path: str, params: Any = None, field: str = "query") -> Any:
        return await self._client.get(path, params, field)
