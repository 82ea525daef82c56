"""The policy file: which roles may call which tools, in what scope, within what limits.

One YAML file per server. The schema is pydantic so that `policy check` and the servers
share one validator, and an error names the file, the field and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from autodevops.common.config import ConfigError, format_validation_error, read_yaml


class Limits(BaseModel):
    """What one call may cost; a cut result says it was cut."""

    model_config = ConfigDict(extra="forbid")

    max_items: int = Field(default=100, ge=1, le=100_000, description="rows in a result")
    max_bytes: int = Field(default=24_000, ge=256, le=10_000_000, description="text in a result")
    timeout_seconds: float = Field(default=20.0, gt=0, le=600, description="whole call")
    calls_per_minute: int = Field(default=120, ge=1, le=100_000, description="per subject")


class Role(BaseModel):
    """A named set of permissions; tokens and `stdio_role` point at roles by name."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    tools: list[str] = Field(default_factory=list, description="globs of tool names allowed")
    deny_tools: list[str] = Field(default_factory=list, description="globs refused anyway")
    scope: dict[str, Any] = Field(default_factory=dict, description="server-specific scope")
    limits: Limits = Field(default_factory=Limits)
    redact: bool = Field(
        default=True,
        description="redact secret-looking values in results; off only for roles that need them",
    )

    def allows(self, tool: str) -> bool:
        if any(fnmatchcase(tool, pattern) for pattern in self.deny_tools):
            return False
        return any(fnmatchcase(tool, pattern) for pattern in self.tools)


class Binding(BaseModel):
    """Roles for callers the Kubernetes API server vouches for (TokenReview), by name or group."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(
        default=None, min_length=1, description="user name, exact or a glob; e.g. a ServiceAccount"
    )
    group: str | None = Field(default=None, min_length=1, description="group, exact or a glob")
    roles: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_of_subject_or_group(self) -> Binding:
        if (self.subject is None) == (self.group is None):
            raise ValueError("give exactly one of subject or group")
        return self

    def matches(self, username: str, groups: Sequence[str]) -> bool:
        if self.subject is not None:
            return fnmatchcase(username, self.subject)
        assert self.group is not None
        return any(fnmatchcase(group, self.group) for group in groups)


class Delegate(BaseModel):
    """A caller that acts for people (Jamie), and the most it may hand on to any of them."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(
        min_length=1, description="the caller's authenticated subject, exact or a glob"
    )
    roles: list[str] = Field(min_length=1, description="roles it may give the person it acts for")
    calls_per_minute: int = Field(
        default=600,
        ge=1,
        le=100_000,
        description="the most calls per minute it may make for all the people it acts for",
    )


class Policy(BaseModel):
    """Deny by default: a tool no role names is neither listed nor callable."""

    model_config = ConfigDict(extra="forbid")

    server: str = Field(min_length=1)
    stdio_role: str | None = Field(
        default=None, description="role of the local user over stdio; none refuses every call"
    )
    roles: dict[str, Role] = Field(min_length=1)
    bindings: list[Binding] = Field(
        default_factory=list, description="roles of callers verified with TokenReview"
    )
    delegates: list[Delegate] = Field(
        default_factory=list, description="callers that may act on behalf of a person"
    )

    @model_validator(mode="after")
    def _roles_exist(self) -> Policy:
        known = ", ".join(sorted(self.roles))
        if self.stdio_role is not None and self.stdio_role not in self.roles:
            raise ValueError(f"stdio_role '{self.stdio_role}' is not a role here ({known})")
        # Raised as located errors so that a bad entry reads `bindings.N.roles: reason`.
        lists: dict[str, Sequence[Binding | Delegate]] = {
            "bindings": self.bindings,
            "delegates": self.delegates,
        }
        problems = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "unknown_role",
                    "unknown role(s) {unknown} (the policy has {known})",
                    {"unknown": ", ".join(unknown), "known": known},
                ),
                loc=(field, index, "roles"),
                input=entry.roles,
            )
            for field, items in lists.items()
            for index, entry in enumerate(items)
            if (unknown := [role for role in entry.roles if role not in self.roles])
        ]
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def bound_roles(self, username: str, groups: Sequence[str]) -> tuple[str, ...]:
        """Roles of every matching binding, in file order: the first that allows a tool governs."""
        roles: dict[str, None] = {}
        for binding in self.bindings:
            if binding.matches(username, groups):
                roles.update(dict.fromkeys(binding.roles))
        return tuple(roles)

    def delegable_roles(self, caller_subject: str) -> tuple[str, ...]:
        """Roles of every `delegates` entry naming the caller, in file order; none = may not."""
        roles: dict[str, None] = {}
        for delegate in self.delegates:
            if fnmatchcase(caller_subject, delegate.subject):
                roles.update(dict.fromkeys(delegate.roles))
        return tuple(roles)

    def delegate_ceiling(self, caller_subject: str) -> int | None:
        """Calls per minute a delegate may make for everyone together: the lowest of the
        entries naming it; None for a caller no entry names."""
        ceilings = [
            d.calls_per_minute for d in self.delegates if fnmatchcase(caller_subject, d.subject)
        ]
        return min(ceilings) if ceilings else None

    def role_for(self, roles: list[str], tool: str) -> tuple[str, Role] | None:
        """The first of the caller's roles that allows the tool governs the call."""
        for name in roles:
            role = self.roles.get(name)
            if role is not None and role.allows(tool):
                return name, role
        return None


def load_policy(path: Path, scope_model: type[BaseModel] | None = None) -> Policy:
    """Read and validate a policy; with a scope model, every role's scope is checked too."""
    source = str(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: (top level): expected a mapping with server and roles")
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from exc
    if scope_model is not None:
        problems = []
        for name, role in policy.roles.items():
            try:
                scope_model.model_validate(role.scope)
            except ValidationError as exc:
                problems.append(format_validation_error(source, exc, f"roles.{name}.scope"))
        if problems:
            raise ConfigError("\n".join(problems))
    return policy
