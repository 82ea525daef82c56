"""A role's reach in Argo CD: projects, application names, destination namespaces, and the
namespaces the Application objects live in.

Reads hide what is out of scope; a call naming an application out of scope is refused with
the reason. Writes are checked against the application as it is when the write is sent (its
current project and destination), so a role that may sync `team-a-*` cannot sync one whose
destination moved to `kube-system`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from autodevops.servers.core.errors import OutOfScope
from autodevops.servers.kubernetes.scope import Globs

from .apps import AppView


class ArgoScope(BaseModel):
    """Every field is a set of globs (`allow`, `deny`); the defaults reach everything but
    Applications outside Argo CD's own `argocd` namespace."""

    model_config = ConfigDict(extra="forbid")

    projects: Globs = Field(default_factory=Globs, description="Argo CD project globs")
    applications: Globs = Field(default_factory=Globs, description="application name globs")
    destinations: Globs = Field(
        default_factory=Globs,
        description="destination namespace globs ('' is an app with no destination namespace)",
    )
    app_namespaces: Globs = Field(
        default_factory=lambda: Globs(allow=["argocd"]),
        description="namespaces the Application objects live in (Argo CD's own by default)",
    )

    def reason_out(self, app: AppView) -> str | None:
        """Why an application is out of scope, or None when it is in."""
        if not self.app_namespaces.matches(app.namespace):
            return f"its Application object is in namespace '{app.namespace}'"
        if not self.projects.matches(app.project):
            return f"its project '{app.project}' is outside your projects ({_shown(self.projects)})"
        if not self.applications.matches(app.name):
            return f"its name is outside your application names ({_shown(self.applications)})"
        if not self.destinations.matches(app.dest_namespace):
            return (
                f"its destination namespace '{app.dest_namespace or '(none)'}' is outside your "
                f"destinations ({_shown(self.destinations)})"
            )
        return None

    def visible(self, app: AppView) -> bool:
        return self.reason_out(app) is None

    def check(self, app: AppView, action: str = "read") -> None:
        reason = self.reason_out(app)
        if reason is not None:
            raise OutOfScope(
                f"application '{app.name}' is outside your scope for {action}: {reason}"
            )

    def check_name(self, name: str) -> None:
        """Refuse before asking the backend when the name alone is out of scope."""
        if not self.applications.matches(name):
            raise OutOfScope(
                f"application '{name}' is outside your scope: its name is outside your "
                f"application names ({_shown(self.applications)})"
            )

    def default_app_namespace(self) -> str | None:
        """The namespace used when a call names none: the first exact one allowed."""
        exact = self.app_namespaces.exact_allow()
        return exact[0] if exact else None

    def server_projects(self) -> list[str]:
        """Projects to ask the backend for, when they are exact names (a narrower answer)."""
        return self.projects.exact_allow() or []


def _shown(globs: Globs) -> str:
    text = ", ".join(globs.allow)
    return text + (f"; denied: {', '.join(globs.deny)}" if globs.deny else "")
