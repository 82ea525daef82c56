"""An Argo CD Application read the same way whether it came from the API server or from the
Kubernetes API: both give the same JSON, and a list asked for with `fields` gives a subset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IN_CLUSTER = "https://kubernetes.default.svc"
# What a list needs from the API server: the fields it can select cheaply (Argo CD keeps a
# fixed list of them; `status.operationState.operation.sync` returns the last sync's result).
LIST_FIELDS = (
    "items.metadata.name",
    "items.metadata.namespace",
    "items.metadata.labels",
    "items.spec",
    "items.status.sync.status",
    "items.status.health",
    "items.status.operationState.phase",
    "items.status.operationState.finishedAt",
    "items.status.operationState.operation.sync",
)


@dataclass(frozen=True)
class AppView:
    """The fields every tool and the scope need, read once from an Application object."""

    raw: dict[str, Any]

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.raw.get("metadata") or {})

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.raw.get("spec") or {})

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.raw.get("status") or {})

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", ""))

    @property
    def project(self) -> str:
        return str(self.spec.get("project") or "default")

    @property
    def destination(self) -> dict[str, Any]:
        return dict(self.spec.get("destination") or {})

    @property
    def dest_namespace(self) -> str:
        return str(self.destination.get("namespace") or "")

    @property
    def dest_text(self) -> str:
        cluster = self.destination.get("name") or self.destination.get("server") or "?"
        if cluster == IN_CLUSTER:
            cluster = "in-cluster"
        return f"{cluster}/{self.dest_namespace or '-'}"

    @property
    def sync_status(self) -> str:
        return str((self.status.get("sync") or {}).get("status") or "Unknown")

    @property
    def health(self) -> str:
        return str((self.status.get("health") or {}).get("status") or "Unknown")

    @property
    def health_message(self) -> str:
        return str((self.status.get("health") or {}).get("message") or "")

    @property
    def operation_state(self) -> dict[str, Any]:
        return dict(self.status.get("operationState") or {})

    @property
    def revision(self) -> str:
        sync = self.status.get("sync") or {}
        state = self.operation_state
        result = state.get("syncResult") or {}
        listed = (state.get("operation") or {}).get("sync") or {}
        for value in (
            sync.get("revision"),
            *(sync.get("revisions") or []),
            result.get("revision"),
            listed.get("revision"),
        ):
            if value:
                return short_revision(str(value))
        return ""

    @property
    def last_sync(self) -> str:
        return when(self.operation_state.get("finishedAt"))

    @property
    def operation_running(self) -> bool:
        return bool(self.raw.get("operation")) or self.operation_state.get("phase") in (
            "Running",
            "Terminating",
        )

    @property
    def auto_sync(self) -> bool:
        return bool((self.spec.get("syncPolicy") or {}).get("automated"))

    @property
    def resource_version(self) -> str:
        return str(self.metadata.get("resourceVersion") or "")

    def row(self) -> list[str]:
        return [
            self.name,
            self.project,
            self.sync_status,
            self.health,
            self.revision or "-",
            self.dest_text,
            self.last_sync or "-",
        ]

    def resources(self) -> list[dict[str, Any]]:
        return [r for r in self.status.get("resources") or [] if isinstance(r, dict)]

    def history(self) -> list[dict[str, Any]]:
        return [h for h in self.status.get("history") or [] if isinstance(h, dict)]

    def sources(self) -> list[dict[str, Any]]:
        if self.spec.get("sources"):
            return [s for s in self.spec["sources"] if isinstance(s, dict)]
        return [self.spec["source"]] if isinstance(self.spec.get("source"), dict) else []


ROW_COLUMNS = ["NAME", "PROJECT", "SYNC", "HEALTH", "REVISION", "DESTINATION", "LAST SYNC"]


def short_revision(revision: str) -> str:
    """A git SHA to its first 8 characters; chart versions and tags stay whole."""
    if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision):
        return revision[:8]
    return revision


def when(timestamp: Any) -> str:
    """RFC 3339 to minutes, UTC (`2026-01-31 12:00Z`): enough to line up with other events."""
    if not timestamp:
        return ""
    text = str(timestamp)
    return f"{text[:10]} {text[11:16]}Z" if len(text) >= 16 and text[10] == "T" else text


def source_text(source: dict[str, Any]) -> str:
    """`repo path@revision` or `repo chart@version`, the way people say where a deploy came from."""
    repo = str(source.get("repoURL") or "?")
    where = source.get("chart") or source.get("path") or ""
    target = source.get("targetRevision") or "HEAD"
    return f"{repo} {where}@{target}".replace("  ", " ")
