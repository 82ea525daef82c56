"""Argument types the Kubernetes tools share, and the namespace rule every tool applies."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, WithJsonSchema

from autodevops.servers.core.errors import InvalidArgument

from ..resource_types import ResourceType

# Names are checked for length here and for their characters before any request, each refusal
# naming the field; the catalogue shows a string, as every client knows a name's rules.
_NAME_SCHEMA = WithJsonSchema({"type": "string"})
Kind = Annotated[
    str,
    Field(min_length=1, max_length=120, description="e.g. pods, deploy, kind.group"),
    _NAME_SCHEMA,
]
Name = Annotated[str, Field(min_length=1, max_length=253), _NAME_SCHEMA]
Namespace = Annotated[str, Field(min_length=1, max_length=63), _NAME_SCHEMA]
MAX_PAGE = 500


def namespace_for(resource: ResourceType, namespace: str | None) -> str | None:
    """A namespaced kind needs one; a cluster-scoped kind ignores one given."""
    if not resource.namespaced:
        return None
    if not namespace:
        raise InvalidArgument("namespace", f"{resource.kind} is namespaced; give a namespace")
    return namespace
