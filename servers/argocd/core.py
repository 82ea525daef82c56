"""Core mode: the Application resources through the Kubernetes API, as the server's own
ServiceAccount, for `argocd --core` installations and where no API server runs.

Writes are what the Argo CD CLI writes in core mode: a sync or rollback is the Application's
`operation`, a refresh its `argocd.argoproj.io/refresh` annotation, a termination the
operation state's phase. Each is a merge patch carrying the resourceVersion the scope was
checked against, so an Application changed in between (its destination moved, say) makes the
write fail instead of acting on what was not checked. A dry run is the API server's own
(`dryRun=All`): validated, never stored.
"""

from __future__ import annotations

from typing import Any

from autodevops.common.unavailable import BackendUnavailable
from autodevops.servers.core.errors import InvalidArgument, NotFound
from autodevops.servers.kubernetes.client import KubeBackend, Response

from .apps import AppView
from .client import ArgoSource, Refused, SyncRequest

BACKEND = "Kubernetes API (Argo CD core mode)"
GROUP = "/apis/argoproj.io/v1alpha1"
USERNAME = "autodevops"
REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"


class ArgoCore(ArgoSource):
    name = BACKEND
    mode = "core"

    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        self._kube = KubeBackend(kubeconfig, context)

    @property
    def url(self) -> str:
        return self._kube.url

    async def check_ready(self) -> None:
        await self._kube.check_ready()

    async def aclose(self) -> None:
        await self._kube.aclose()

    async def list_apps(
        self, namespaces: list[str] | None, projects: list[str], selector: str | None
    ) -> list[dict[str, Any]]:
        query = [("labelSelector", selector)] if selector else []
        paths = (
            [f"{GROUP}/applications"]
            if namespaces is None
            else [f"{GROUP}/namespaces/{ns}/applications" for ns in namespaces]
        )
        items: list[dict[str, Any]] = []
        for path in paths:
            body = await self._ok(await self._kube.request("GET", path, query), "list", "")
            items.extend(body.get("items") or [])
        return items

    async def get_app(self, name: str, namespace: str | None) -> dict[str, Any]:
        if not namespace:
            raise InvalidArgument(
                "app_namespace", "name the namespace the Application lives in (core mode)"
            )
        response = await self._kube.request("GET", _path(namespace, name))
        return dict(await self._ok(response, "get", f"application '{name}' in {namespace}"))

    async def managed_resources(self, app: AppView) -> list[dict[str, Any]] | None:
        return None  # the desired manifests live in the repo server, not in the Application

    async def resource_tree(self, app: AppView) -> list[dict[str, Any]] | None:
        return None  # the controller keeps the tree in its cache (Redis), not in the resource

    async def events(self, app: AppView) -> list[dict[str, Any]]:
        selector = f"involvedObject.kind=Application,involvedObject.name={app.name}"
        response = await self._kube.request(
            "GET", f"/api/v1/namespaces/{app.namespace}/events", [("fieldSelector", selector)]
        )
        return list((await self._ok(response, "list events", "")).get("items") or [])

    async def sync(self, app: AppView, request: SyncRequest, dry_run: bool) -> None:
        sync: dict[str, Any] = {"prune": request.prune}
        if request.revision:
            sync["revision"] = request.revision
        if request.resources:
            sync["resources"] = [r.body() for r in request.resources]
        await self._operation(app, sync, dry_run)

    async def rollback(
        self, app: AppView, entry: dict[str, Any], prune: bool, dry_run: bool
    ) -> None:
        sync: dict[str, Any] = {"prune": prune}
        if entry.get("sources"):
            sync["sources"] = entry["sources"]
            sync["revisions"] = entry.get("revisions") or []
        else:
            sync["source"] = entry.get("source") or {}
            sync["revision"] = entry.get("revision") or ""
        await self._operation(app, sync, dry_run)

    async def refresh(self, app: AppView, hard: bool, dry_run: bool) -> AppView:
        patch = {"metadata": {"annotations": {REFRESH_ANNOTATION: "hard" if hard else "normal"}}}
        return AppView(await self._patch(app, patch, dry_run))

    async def terminate(self, app: AppView, dry_run: bool) -> None:
        await self._patch(app, {"status": {"operationState": {"phase": "Terminating"}}}, dry_run)

    async def _operation(self, app: AppView, sync: dict[str, Any], dry_run: bool) -> None:
        operation = {"sync": sync, "initiatedBy": {"username": USERNAME}}
        await self._patch(app, {"operation": operation}, dry_run)

    async def _patch(self, app: AppView, patch: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        body = {
            **patch,
            "metadata": {**patch.get("metadata", {}), "resourceVersion": app.resource_version},
        }
        query = [("dryRun", "All")] if dry_run else []
        response = await self._kube.request(
            "PATCH",
            _path(app.namespace, app.name),
            query,
            body,
            content_type="application/merge-patch+json",
        )
        if response.status == 409:
            raise Refused(
                f"application '{app.name}' changed while the request was checked; nothing was "
                "written. Read it again and retry"
            )
        return dict(await self._ok(response, "patch", f"application '{app.name}'"))

    async def _ok(self, response: Response, verb: str, what: str) -> Any:
        if response.status < 300:
            return response.body
        message = (
            response.body.get("message", "")
            if isinstance(response.body, dict)
            else str(response.body)[:200]
        )
        if response.status == 404 and what:
            raise NotFound(f"{what} not found: {message}")
        if response.status == 404:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"the Application resource is not served ({message})",
                "that Argo CD's CRDs are installed (manifests/crds of the Argo CD release)",
            )
        if response.status in (401, 403):
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"the API server refused to {verb} ({message})",
                "the server's ServiceAccount RBAC; `autodevops policy rbac` prints what it needs",
            )
        if response.status in (400, 422):
            raise Refused(f"the API server refused the change: {message}")
        raise BackendUnavailable(
            BACKEND, self.url, f"HTTP {response.status}: {message}", "the API server's health"
        )


def _path(namespace: str, name: str) -> str:
    return f"{GROUP}/namespaces/{namespace}/applications/{name}"
