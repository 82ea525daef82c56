"""API mode: the Argo CD API server's REST API, with the server's own token.

The token is read from a file on each call that finds the file changed, so a rotated Secret
needs no restart; it is sent to Argo CD only, never logged and never taken from a caller.
TLS is verified by default (a CA file may be given).
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2

from autodevops.common.unavailable import BackendUnavailable
from autodevops.servers.core.errors import InvalidArgument, NotFound
from autodevops.servers.core.http_backend import unreachable

from .apps import LIST_FIELDS, AppView
from .client import ArgoSource, Refused, SyncRequest

BACKEND = "Argo CD API"
_CHECK_RUNNING = "that argocd-server is running and --argocd-url (ARGOCD_URL) points at it"


class ArgoApi(ArgoSource):
    name = BACKEND
    mode = "api"

    def __init__(
        self,
        url: str,
        token_file: str | None,
        ca_file: str | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        self._url = url.rstrip("/")
        self._token_file = Path(token_file) if token_file else None
        self._token: tuple[float, str] | None = None
        self._http = httpx2.AsyncClient(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=ca_file) if ca_file else True,
            timeout=httpx2.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
            headers={"Accept": "application/json"},
        )

    @property
    def url(self) -> str:
        return self._url

    async def check_ready(self) -> None:
        await self._call("GET", "/api/version")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def list_apps(
        self, namespaces: list[str] | None, projects: list[str], selector: str | None
    ) -> list[dict[str, Any]]:
        params: list[tuple[str, str]] = [("fields", ",".join(LIST_FIELDS))]
        params += [("projects", p) for p in projects]
        if selector:
            params.append(("selector", selector))
        if namespaces is not None and len(namespaces) == 1:
            params.append(("appNamespace", namespaces[0]))
        body = await self._call("GET", "/api/v1/applications", params, field="selector")
        return list(body.get("items") or [])

    async def get_app(self, name: str, namespace: str | None) -> dict[str, Any]:
        params = [("appNamespace", namespace)] if namespace else []
        return dict(await self._call("GET", _app(name), params, what=f"application '{name}'"))

    async def managed_resources(self, app: AppView) -> list[dict[str, Any]] | None:
        body = await self._call("GET", _app(app.name, "managed-resources"), _where(app))
        return list(body.get("items") or [])

    async def resource_tree(self, app: AppView) -> list[dict[str, Any]] | None:
        body = await self._call("GET", _app(app.name, "resource-tree"), _where(app))
        return list(body.get("nodes") or [])

    async def events(self, app: AppView) -> list[dict[str, Any]]:
        body = await self._call("GET", _app(app.name, "events"), _where(app))
        return list(body.get("items") or [])

    async def sync(self, app: AppView, request: SyncRequest, dry_run: bool) -> None:
        if dry_run:
            return  # checked above; Argo CD's own dry run would record an operation
        body: dict[str, Any] = {
            "name": app.name,
            "appNamespace": app.namespace,
            "project": app.project,
            "prune": request.prune,
            "dryRun": False,
        }
        if request.revision:
            body["revision"] = request.revision
        if request.resources:
            body["resources"] = [r.body() for r in request.resources]
        await self._call("POST", _app(app.name, "sync"), body=body)

    async def rollback(
        self, app: AppView, entry: dict[str, Any], prune: bool, dry_run: bool
    ) -> None:
        if dry_run:
            return
        body = {
            "name": app.name,
            "appNamespace": app.namespace,
            "project": app.project,
            "id": int(entry["id"]),
            "prune": prune,
            "dryRun": False,
        }
        await self._call("POST", _app(app.name, "rollback"), body=body)

    async def refresh(self, app: AppView, hard: bool, dry_run: bool) -> AppView:
        if dry_run:
            return app
        params = [*_where(app), ("refresh", "hard" if hard else "normal")]
        return AppView(await self._call("GET", _app(app.name), params))

    async def terminate(self, app: AppView, dry_run: bool) -> None:
        if dry_run:
            return
        await self._call("DELETE", _app(app.name, "operation"), _where(app))

    def _bearer(self) -> dict[str, str]:
        if self._token_file is None:
            return {}
        try:
            mtime = os.stat(self._token_file).st_mtime
            if self._token is None or self._token[0] != mtime:
                token = self._token_file.read_text(encoding="utf-8").strip()
                self._token = (mtime, token)
        except OSError as exc:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"the token file cannot be read ({type(exc).__name__})",
                "--argocd-token-file (ARGOCD_TOKEN_FILE) and the Secret mounted there",
            ) from exc
        return {"Authorization": f"Bearer {self._token[1]}"}

    async def _call(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
        what: str = "",
        field: str = "name",
    ) -> Any:
        try:
            response = await self._http.request(
                method,
                path,
                params=tuple(params or ()),
                json=body,
                headers={**self._bearer(), **_content_type(method)},
            )
        except httpx2.HTTPError as exc:
            raise unreachable(
                BACKEND, self.url, exc, slow=_CHECK_RUNNING, down=_CHECK_RUNNING
            ) from exc
        if response.status_code < 300:
            return _json(response, self.url)
        message = _error_message(response)
        status = response.status_code
        if status == 401:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"refused the server's token (HTTP 401: {message})",
                "--argocd-token-file (ARGOCD_TOKEN_FILE): the account's token may have expired "
                "or been revoked",
            )
        if status == 403:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"refused the server's account (HTTP 403: {message})",
                "the account's Argo CD RBAC (`autodevops policy argocd-rbac` prints the "
                "policy.csv lines this policy needs); Argo CD also answers 403 for an "
                "application that does not exist",
            )
        if status == 404:
            raise NotFound(f"{what or 'the object'} not found in Argo CD: {message}")
        if field == "selector" and "parsing the selector" in message:
            raise InvalidArgument("selector", message)  # Argo CD answers it with HTTP 500
        if status in (400, 409, 412):
            raise Refused(f"Argo CD refused the request: {message}")
        raise BackendUnavailable(
            BACKEND, self.url, f"HTTP {status}: {message}", "argocd-server's health and logs"
        )


def _app(name: str, sub: str = "") -> str:
    path = f"/api/v1/applications/{quote(name, safe='')}"
    return f"{path}/{sub}" if sub else path


def _content_type(method: str) -> dict[str, str]:
    """Argo CD refuses every method but GET without a JSON content type (a CSRF guard), a
    DELETE without a body included."""
    return {} if method == "GET" else {"Content-Type": "application/json"}


def _where(app: AppView) -> list[tuple[str, str]]:
    return [("appNamespace", app.namespace), ("project", app.project)]


def _json(response: httpx2.Response, url: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise BackendUnavailable(
            BACKEND,
            url,
            f"answered HTTP {response.status_code} with a non-JSON body ({response.text[:120]!r})",
            "that the URL points at argocd-server's API, not its web UI or a proxy",
        ) from exc


def _error_message(response: httpx2.Response) -> str:
    """grpc-gateway errors are `{"error", "code", "message"}`; proxies send text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)[:500]
    return str(body)[:200]
