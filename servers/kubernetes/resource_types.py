"""Resource types the API server serves, found by discovery (built-in and custom alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    singular: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base

    def names(self) -> set[str]:
        return {
            self.kind.lower(),
            self.plural,
            self.singular or self.kind.lower(),
            *self.short_names,
        }


def parse_discovery(group: str, version: str, body: dict[str, Any]) -> list[ResourceType]:
    """Resource types from one APIResourceList; subresources (pods/log) are left out."""
    found = []
    for item in body.get("resources") or []:
        if not isinstance(item, dict) or "/" in item.get("name", "/"):
            continue
        found.append(
            ResourceType(
                group=group,
                version=version,
                kind=item["kind"],
                plural=item["name"],
                namespaced=bool(item.get("namespaced")),
                verbs=tuple(item.get("verbs", [])),
                short_names=tuple(item.get("shortNames", [])),
                singular=item.get("singularName", ""),
            )
        )
    return found
