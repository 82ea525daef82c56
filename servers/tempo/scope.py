"""A role's reach in Tempo: its tenant, the resource attribute values it may see, and how
many spans of one trace it may receive.

Enforcement has two halves: every TraceQL query is rewritten by `traceql.enforce_scope` so
that only in-scope spans can match, and a fetched trace is cut by `visible` so that the
spans outside the scope show only their service (see `summary.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_ATTRIBUTE = "k8s.namespace.name"


class TempoScope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9!_.*'()-]{1,150}$",
        description="X-Scope-OrgID sent for this role; default the server's --tempo-tenant",
    )
    attribute: str = Field(
        DEFAULT_ATTRIBUTE,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*[A-Za-z0-9_]$",
        description="the resource attribute `values` apply to, e.g. service.namespace",
    )
    values: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="allowed values of the attribute; empty = every span is in scope",
    )
    max_spans: int = Field(
        200, ge=10, le=10_000, description="span budget: the most spans of one trace per answer"
    )

    @property
    def scoped(self) -> bool:
        return bool(self.values)

    def visible(self, resource: Mapping[str, Any]) -> bool:
        """A span is in scope when its resource carries one of the allowed values."""
        return not self.values or resource.get(self.attribute) in self.values
