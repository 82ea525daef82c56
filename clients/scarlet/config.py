"""Scarlet's configuration: one YAML file, secrets read from mounted files, env overrides.

Secrets (the database URL, MCP tokens, the Slack webhook) are named by file so a rotated
Kubernetes Secret is picked up without a rebuild.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationError, model_validator

from autodevops.common.config import ConfigError, format_validation_error, read_yaml

from ..core import config as core_config
from ..core.config import Section, Server, ollama_url, read_secret

Decision = Literal["auto", "approval", "deny"]
# `submitter` may post alerts and runs, `viewer` may read; deciding actions takes an approver
# role (`approver` unless the actions name others).
API_ROLES = frozenset({"submitter", "approver", "viewer"})


class Model(core_config.Model):
    max_steps: int = Field(default=10, ge=1, le=50)
    max_seconds: float = Field(default=300, gt=0)


RoleName = Annotated[str, StringConstraints(pattern=r"^[^,\s]+$")]


class ActionRule(Section):
    tool: str = Field(description="glob of pool tool names, e.g. kubernetes__rollout_restart")
    decision: Decision
    approver_roles: list[RoleName] | None = Field(
        default=None,
        min_length=1,
        description="roles that may approve or reject its actions; default actions.approver_roles",
    )


class Actions(Section):
    rules: list[ActionRule] = Field(default_factory=list)
    approval_expiry_seconds: float = Field(default=3600, gt=0)
    approver_roles: list[RoleName] = Field(
        default_factory=lambda: ["approver"],
        min_length=1,
        description="roles that may approve or reject an action its rule names no roles for",
    )
    dry_run: bool = Field(
        default=False,
        description="approved writes run with dry_run=true: a rehearsal that changes nothing",
    )

    def decide(self, tool: str) -> Decision:
        """First matching rule wins; a write no rule names is denied."""
        rule = self._rule(tool)
        return rule.decision if rule is not None else "deny"

    def approvers(self, tool: str) -> tuple[str, ...]:
        """The roles that may decide an action of `tool` (the same rule `decide` picks)."""
        rule = self._rule(tool)
        if rule is not None and rule.approver_roles is not None:
            return tuple(rule.approver_roles)
        return tuple(self.approver_roles)

    def all_approver_roles(self) -> tuple[str, ...]:
        named = [
            *self.approver_roles,
            *(r for rule in self.rules for r in rule.approver_roles or []),
        ]
        return tuple(dict.fromkeys(named))

    def _rule(self, tool: str) -> ActionRule | None:
        return next((rule for rule in self.rules if fnmatchcase(tool, rule.tool)), None)


class Delegate(Section):
    """A caller that acts for people (Jamie), as in the servers' policies: its own token says
    who it is, `X-Autodevops-On-Behalf-Of` names the person, and of the roles it asserts for
    them only these are kept."""

    subject: str = Field(min_length=1, description="its subject in the API tokens file, or a glob")
    roles: list[RoleName] = Field(min_length=1, description="roles it may hand on to a person")


class Schedule(Section):
    name: str
    every_seconds: float = Field(gt=0)
    question: str = "Sweep the cluster for problems and report them."


class LeaderElection(Section):
    """Where the schedules' Lease lives; without it this replica is the only scheduler."""

    namespace: str
    name: str = "scarlet-schedules"
    kubeconfig: Path | None = Field(default=None, description="default: in-cluster")
    lease_seconds: int = Field(default=15, ge=5)


class Retention(Section):
    operation_days: int = Field(default=90, ge=1)
    audit_days: int = Field(default=730, ge=1)


class Worker(Section):
    poll_seconds: float = Field(default=1.0, gt=0)
    stale_after_seconds: float = Field(default=60, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    heartbeat_seconds: float = Field(default=5, gt=0)
    # Runs one replica works on at once (each waits mostly on tool calls); the database hands
    # each run to one worker, and a write proposed twice is still one action. Raise it only
    # as far as the servers' calls_per_minute allow (about 10 calls a run): past that the
    # runs wait on the limit together, and a run that waited out its pacing is partial.
    concurrency: int = Field(default=1, ge=1, le=32)


class Ports(Section):
    api: int = 8001
    metrics: int = 9001
    health: int = 8080


class ScarletConfig(Section):
    database_url_file: Path | None = None
    database_url: str | None = Field(None, description="prefer database_url_file for secrets")
    servers: list[Server] = Field(min_length=1)
    model: Model = Field(default_factory=Model)
    actions: Actions = Field(default_factory=Actions)
    schedules: list[Schedule] = Field(default_factory=list)
    leader_election: LeaderElection | None = None
    namespaces: list[str] | None = Field(None, description="analyzers' namespaces; none: all")
    dedupe_window_seconds: float = Field(default=1800, gt=0)
    retention: Retention = Field(default_factory=Retention)
    worker: Worker = Field(default_factory=Worker)
    ports: Ports = Field(default_factory=Ports)
    host: str = "127.0.0.1"
    api_tokens_file: Path = Field(description="YAML list of {token, subject, roles}")
    delegates: list[Delegate] = Field(
        default_factory=list, description="callers that may act on behalf of a person"
    )
    slack_webhook_url_file: Path | None = None
    call_timeout_seconds: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _one_database(self) -> ScarletConfig:
        if (self.database_url is None) == (self.database_url_file is None):
            raise ValueError("give exactly one of database_url_file and database_url")
        return self

    @model_validator(mode="after")
    def _delegated_roles_exist(self) -> ScarletConfig:
        known = self.roles()
        for index, delegate in enumerate(self.delegates):
            unknown = [role for role in delegate.roles if role not in known]
            if unknown:
                raise ValueError(
                    f"delegates.{index}.roles: unknown role(s) {', '.join(unknown)} "
                    f"(known: {', '.join(sorted(known))})"
                )
        return self

    def roles(self) -> frozenset[str]:
        """The API's fixed roles and every approver role the actions name."""
        return API_ROLES | set(self.actions.all_approver_roles())

    def delegable_roles(self, caller_subject: str) -> tuple[str, ...]:
        """Roles of every `delegates` entry naming the caller, in file order; none = may not."""
        roles: dict[str, None] = {}
        for delegate in self.delegates:
            if fnmatchcase(caller_subject, delegate.subject):
                roles.update(dict.fromkeys(delegate.roles))
        return tuple(roles)

    def dsn(self) -> str:
        if self.database_url_file is not None:
            return read_secret(self.database_url_file, "database_url_file")
        assert self.database_url is not None
        return self.database_url


def load_config(path: Path) -> ScarletConfig:
    """The file, then environment overrides (SCARLET_DATABASE_URL, OLLAMA_HOST). Relative
    paths are relative to the file's folder, as in Jamie's configuration."""
    source = str(path)
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: (top level): expected a mapping")
    if os.environ.get("SCARLET_DATABASE_URL"):
        raw.pop("database_url_file", None)
        raw["database_url"] = os.environ["SCARLET_DATABASE_URL"]
    if os.environ.get("OLLAMA_HOST"):
        raw.setdefault("model", {})["host"] = ollama_url(os.environ["OLLAMA_HOST"])
    try:
        config = ScarletConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from exc
    base = path.parent
    for server in config.servers:
        server.token_file = base / server.token_file
    config.api_tokens_file = base / config.api_tokens_file
    if config.database_url_file is not None:
        config.database_url_file = base / config.database_url_file
    if config.slack_webhook_url_file is not None:
        config.slack_webhook_url_file = base / config.slack_webhook_url_file
    election = config.leader_election
    if election is not None and election.kubeconfig is not None:
        election.kubeconfig = base / election.kubeconfig
    return config
