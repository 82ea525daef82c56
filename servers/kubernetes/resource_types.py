"""Resource types the API server serves, found by discovery (built-in and custom alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


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
        """The request path; every segment is percent-encoded, so no value can add a segment,
        a query or a fragment to it."""
        segments = ["apis", self.group, self.version] if self.group else ["api", self.version]
        if self.namespaced and namespace:
            segments += ["namespaces", namespace]
        segments.append(self.plural)
        if name:
            segments.append(name)
        return "/" + "/".join(quote(segment, safe="") for segment in segments)

    def names(self) -> set[str]:
        """Every name a caller may use for this type, lower-case: kind, plural, singular and
        short names."""
        return {
            self.kind.lower(),
            self.plural.lower(),
            (self.singular or self.kind).lower(),
            *(short.lower() for short in self.short_names),
        }

    @property
    def builtin(self) -> bool:
        """Kubernetes' own groups are the core group, dotless names and `*.k8s.io` (a custom
        resource cannot use those without the API reviewers' approval annotation)."""
        return "." not in self.group or self.group.endswith(".k8s.io")


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
