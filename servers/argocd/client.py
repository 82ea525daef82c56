"""The one way tools reach Argo CD: a source (the API server, or the Application resources
through the Kubernetes API) behind a client bound to one role's scope.

`ScopedArgo` hides applications out of scope from lists, refuses calls that name one, and
checks every write against the application as it is just before the write is sent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from autodevops.servers.core.errors import GateError, InvalidArgument

from .apps import AppView
from .scope import ArgoScope


class Refused(GateError):
    """Argo CD (or the API server) refused an allowed call for a reason the caller can act on:
    an operation already running, auto-sync on during a rollback, a conflict."""

    reason = "backend_refused"
    denied = False


@dataclass(frozen=True)
class ResourceRef:
    kind: str
    name: str
    namespace: str = ""
    group: str = ""

    def text(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    def body(self) -> dict[str, str]:
        return {
            "group": self.group,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
        }


@dataclass
class SyncRequest:
    prune: bool = False
    resources: list[ResourceRef] = field(default_factory=list)
    revision: str | None = None


class ArgoSource(ABC):
    """What both modes answer; the scope is never the source's concern."""

    name: str
    mode: str

    @property
    @abstractmethod
    def url(self) -> str:
        """Where the source is, for messages (a URL without credentials)."""

    @abstractmethod
    async def check_ready(self) -> None: ...

    @abstractmethod
    async def list_apps(
        self, namespaces: list[str] | None, projects: list[str], selector: str | None
    ) -> list[dict[str, Any]]:
        """Applications in those namespaces (None: wherever the source looks)."""

    @abstractmethod
    async def get_app(self, name: str, namespace: str | None) -> dict[str, Any]: ...

    @abstractmethod
    async def managed_resources(self, app: AppView) -> list[dict[str, Any]] | None:
        """Live and desired state of each managed resource; None where the mode has none."""

    @abstractmethod
    async def resource_tree(self, app: AppView) -> list[dict[str, Any]] | None:
        """Every node of the resource tree; None where the mode has none."""

    @abstractmethod
    async def events(self, app: AppView) -> list[dict[str, Any]]: ...

    @abstractmethod
    async def sync(self, app: AppView, request: SyncRequest, dry_run: bool) -> None: ...

    @abstractmethod
    async def rollback(
        self, app: AppView, entry: dict[str, Any], prune: bool, dry_run: bool
    ) -> None: ...

    @abstractmethod
    async def refresh(self, app: AppView, hard: bool, dry_run: bool) -> AppView: ...

    @abstractmethod
    async def terminate(self, app: AppView, dry_run: bool) -> None: ...

    @abstractmethod
    async def aclose(self) -> None: ...

    def scoped(self, scope: ArgoScope) -> ScopedArgo:
        return ScopedArgo(self, scope)


class ScopedArgo:
    """Every read and write a tool makes passes the role's scope here."""

    def __init__(self, source: ArgoSource, scope: ArgoScope) -> None:
        self.source = source
        self.scope = scope

    @property
    def mode(self) -> str:
        return self.source.mode

    async def list_apps(
        self, project: str | None = None, selector: str | None = None
    ) -> list[AppView]:
        if project is not None and not self.scope.projects.matches(project):
            raise InvalidArgument(
                "project", f"project '{project}' is outside your scope; leave it out to list yours"
            )
        projects = [project] if project else self.scope.server_projects()
        namespaces = self.scope.app_namespaces.exact_allow()
        items = await self.source.list_apps(namespaces, projects, selector)
        apps = [AppView(item) for item in items]
        return sorted(
            (
                a
                for a in apps
                if self.scope.visible(a) and (project is None or a.project == project)
            ),
            key=lambda a: (a.namespace, a.name),
        )

    async def get_app(self, name: str, app_namespace: str | None, action: str = "read") -> AppView:
        """The application as it is now, refused when out of scope for `action`."""
        self.scope.check_name(name)
        namespace = app_namespace or self.scope.default_app_namespace()
        if namespace is not None and not self.scope.app_namespaces.matches(namespace):
            raise InvalidArgument(
                "app_namespace", f"namespace '{namespace}' is outside your application namespaces"
            )
        app = AppView(await self.source.get_app(name, namespace))
        self.scope.check(app, action)
        return app

    async def managed_resources(self, app: AppView) -> list[dict[str, Any]] | None:
        return await self.source.managed_resources(app)

    async def resource_tree(self, app: AppView) -> list[dict[str, Any]] | None:
        return await self.source.resource_tree(app)

    async def events(self, app: AppView) -> list[dict[str, Any]]:
        return await self.source.events(app)

    async def sync(
        self, name: str, app_namespace: str | None, request: SyncRequest, dry_run: bool
    ) -> AppView:
        app = await self.get_app(name, app_namespace, "sync")
        _no_running_operation(app, "sync")
        known = {(r.get("kind"), r.get("namespace") or "", r.get("name")) for r in app.resources()}
        for ref in request.resources:
            if (ref.kind, ref.namespace, ref.name) not in known:
                raise InvalidArgument(
                    "resources",
                    f"{ref.text()} is not a resource of application '{name}'; "
                    "get_application lists them",
                )
        await self.source.sync(app, request, dry_run)
        return app

    async def rollback(
        self, name: str, app_namespace: str | None, history_id: int, prune: bool, dry_run: bool
    ) -> tuple[AppView, dict[str, Any]]:
        app = await self.get_app(name, app_namespace, "rollback")
        _no_running_operation(app, "rollback")
        if app.auto_sync:
            raise Refused(
                f"application '{name}' has automated sync on, which would undo a rollback at "
                "once; turn auto-sync off in its spec (in git) first"
            )
        entries = {int(h.get("id", -1)): h for h in app.history()}
        if history_id not in entries:
            known = ", ".join(str(i) for i in sorted(entries)) or "none"
            raise InvalidArgument("id", f"no history entry {history_id} (known: {known})")
        await self.source.rollback(app, entries[history_id], prune, dry_run)
        return app, entries[history_id]

    async def refresh(
        self, name: str, app_namespace: str | None, hard: bool, dry_run: bool
    ) -> AppView:
        app = await self.get_app(name, app_namespace, "refresh")
        return await self.source.refresh(app, hard, dry_run)

    async def terminate(self, name: str, app_namespace: str | None, dry_run: bool) -> AppView:
        app = await self.get_app(name, app_namespace, "terminate")
        if app.operation_state.get("phase") != "Running":
            phase = app.operation_state.get("phase") or "none"
            raise Refused(
                f"application '{name}' has no running operation to terminate (last: {phase})"
            )
        await self.source.terminate(app, dry_run)
        return app


def _no_running_operation(app: AppView, action: str) -> None:
    if app.operation_running:
        raise Refused(
            f"application '{app.name}' has an operation in progress; wait for it, or "
            f"terminate_operation, before a {action}"
        )
