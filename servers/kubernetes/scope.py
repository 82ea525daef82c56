"""A role's reach in a cluster: namespaces, kinds, verbs, whether Secret values show, and
which escalating writes it may make."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field

from autodevops.servers.core.errors import OutOfScope

from .resource_types import ResourceType

READ_VERBS = ["get", "list", "watch"]
WRITE_VERBS = frozenset({"create", "patch", "update", "delete"})


class Globs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow: list[str] = Field(default_factory=lambda: ["*"])
    deny: list[str] = Field(default_factory=list)

    def matches(self, *names: str) -> bool:
        if any(fnmatchcase(n, p) for n in names for p in self.deny):
            return False
        return any(fnmatchcase(n, p) for n in names for p in self.allow)

    def exact_allow(self) -> list[str] | None:
        """The allowed names when all are literal (no globs), else None."""
        if any(c in p for p in self.allow for c in "*?["):
            return None
        return [name for name in self.allow if self.matches(name)]


class KubernetesScope(BaseModel):
    """Deny by default where it matters: Secrets, writes and cluster-scoped objects."""

    model_config = ConfigDict(extra="forbid")

    namespaces: Globs = Field(default_factory=Globs, description="namespace name globs")
    kinds: Globs = Field(
        default_factory=lambda: Globs(allow=["*"], deny=["Secret"]),
        description="`Kind` or `group/Kind` globs (core group is `core`)",
    )
    verbs: list[str] = Field(default_factory=lambda: list(READ_VERBS))
    cluster_scoped: bool = Field(False, description="may read/change cluster-scoped objects")
    secret_values: bool = Field(False, description="may see Secret data values")
    bindable_roles: list[str] = Field(
        default_factory=list,
        description="Role/ClusterRole name globs a RoleBinding or ClusterRoleBinding it writes "
        "may refer to; none by default",
    )
    secret_mounts: bool = Field(
        False,
        description="may write pods (and workload templates) that use Secrets it may not read",
    )

    def kind_allowed(self, resource: ResourceType) -> bool:
        """Kind globs match kind, plural, singular or short names, with or without `group/`,
        case-insensitively: `Secret`, `secrets` and `core/secret` all name Secrets."""
        names = kind_names(resource)
        if any(fnmatchcase(n, p.lower()) for n in names for p in self.kinds.deny):
            return False
        return any(fnmatchcase(n, p.lower()) for n in names for p in self.kinds.allow)

    def check(self, resource: ResourceType, verb: str, namespace: str | None) -> None:
        """Refuse, naming what is out of scope, unless kind, verb and namespace are all in."""
        if verb not in self.verbs:
            raise OutOfScope(
                f"verb '{verb}' on {resource.kind} is outside your scope "
                f"(allowed verbs: {', '.join(self.verbs)})"
            )
        if not self.kind_allowed(resource):
            raise OutOfScope(f"kind {resource.qualified} is outside your scope")
        if not resource.namespaced:
            if not self.cluster_scoped:
                raise OutOfScope(
                    f"{resource.kind} is cluster-scoped and your role may not reach "
                    "cluster-scoped objects"
                )
            return
        if namespace is None:
            if self.namespaces.allow != ["*"] or self.namespaces.deny:
                raise OutOfScope(
                    "listing across all namespaces is outside your scope; name a namespace"
                    + _allowed_hint(self.namespaces)
                )
            return
        if not self.namespaces.matches(namespace):
            raise OutOfScope(
                f"namespace '{namespace}' is outside your scope" + _allowed_hint(self.namespaces)
            )

    def namespace_visible(self, namespace: str) -> bool:
        return self.namespaces.matches(namespace)


def _allowed_hint(globs: Globs) -> str:
    allowed = ", ".join(globs.allow)
    denied = f"; denied: {', '.join(globs.deny)}" if globs.deny else ""
    return f" (allowed: {allowed}{denied})"


def kind_names(resource: ResourceType) -> set[str]:
    names = resource.names()
    group = resource.group or "core"
    return names | {f"{group}/{name}" for name in names}


def unmatched_kind_patterns(scope: KubernetesScope, types: Iterable[ResourceType]) -> list[str]:
    """The `kinds` entries that name no type the cluster serves: a typo there silently
    allows or denies nothing."""
    names = set().union(*(kind_names(t) for t in types))
    return [
        pattern
        for pattern in [*scope.kinds.allow, *scope.kinds.deny]
        if not any(fnmatchcase(name, pattern.lower()) for name in names)
    ]
