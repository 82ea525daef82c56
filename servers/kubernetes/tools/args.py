"""Argument types the Kubernetes tools share, and the namespace rule every tool applies."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from autodevops.servers.core.errors import InvalidArgument

from ..resource_types import ResourceType

Kind = Annotated[
    str,
    Field(
        min_length=1,
        max_length=120,
        description="Kind, plural or short name, optionally .group: Deployment, pods, deploy",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=253)]
Namespace = Annotated[str, Field(min_length=1, max_length=63)]
MAX_PAGE = 500


def namespace_for(resource: ResourceType, namespace: str | None) -> str | None:
    """A namespaced kind needs one; a cluster-scoped kind ignores one given."""
    if not resource.namespaced:
        return None
    if not namespace:
        raise InvalidArgument("namespace", f"{resource.kind} is namespaced; give a namespace")
    return namespace
