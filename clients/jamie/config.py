"""Jamie's configuration: one YAML file, secrets read from mounted files, a few env overrides.

The MongoDB and Redis URLs and the MCP tokens are named by file, so a rotated Kubernetes
Secret is used without a rebuild. `OLLAMA_HOST` and `JAMIE_MODEL` override the model section,
as people who run Ollama expect.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from autodevops.common.config import ConfigError, format_validation_error, read_yaml

from ..core import config as core_config
from ..core.config import Section, Server, ollama_url, read_secret


class Model(core_config.Model):
    embed_name: str = "nomic-embed-text"


class MongoDB(Section):
    url_file: Path = Field(description="file holding the mongodb:// URL")
    database: str = "jamie"
    retention_days: int = Field(default=365, ge=1)
    timeout_seconds: float = Field(default=5, gt=0)
    recall_index_megabytes: int = Field(
        default=512, ge=1, description="memory for recall without $vectorSearch, all persons"
    )


class Redis(Section):
    url_file: Path = Field(description="file holding the redis:// URL")
    timeout_seconds: float = Field(default=2, gt=0)


class Proxy(Section):
    """Identity headers set by an authenticating proxy (oauth2-proxy, an ingress with OIDC).

    They are believed only from `trusted_proxies`; from anyone else they are ignored.
    """

    user_header: str = "X-Forwarded-User"
    groups_header: str = "X-Forwarded-Groups"
    trusted_proxies: list[str] = Field(min_length=1, description="CIDRs of the proxy's pods")
    group_roles: dict[str, list[str]] = Field(
        default_factory=dict, description="IdP group -> the roles people in it get"
    )
    default_roles: list[str] = Field(default_factory=list, description="roles everyone gets")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return _cidrs(value)


def _cidrs(value: list[str]) -> list[str]:
    for cidr in value:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise ValueError(f"{cidr!r} is not a CIDR: {exc}") from exc
    return value


class Auth(Section):
    users_file: Path | None = Field(default=None, description="local users with hashed passwords")
    proxy: Proxy | None = None
    session_seconds: int = Field(default=8 * 3600, ge=1, description="idle time before sign-out")
    cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto", description="auto: Secure when the request came over HTTPS"
    )
    forwarders: list[str] = Field(
        default_factory=list,
        description="CIDRs of the ingress controller's pods: from them, the last address of "
        "X-Forwarded-For is the client's (for sign-in limits); from anyone else it is ignored",
    )

    @field_validator("forwarders")
    @classmethod
    def _forwarders(cls, value: list[str]) -> list[str]:
        return _cidrs(value)

    @model_validator(mode="after")
    def _some_way_in(self) -> Auth:
        if self.users_file is None and self.proxy is None:
            raise ValueError("give users_file, proxy, or both: otherwise nobody can sign in")
        return self


class Limits(Section):
    login_free_failures: int = Field(
        default=5,
        ge=1,
        description="failed sign-ins per user name before each further try waits "
        "(1 s, 2 s, 4 s ... up to login_max_delay_seconds)",
    )
    login_max_delay_seconds: float = Field(default=60, gt=0)
    login_per_address_per_minute: int = Field(
        default=20, ge=1, description="sign-in attempts per client address"
    )
    login_global_per_minute: int = Field(
        default=300, ge=1, description="sign-in attempts for the whole service (all replicas)"
    )
    chat_per_minute: int = Field(default=20, ge=1, description="questions per person")
    tool_cache_seconds: float = Field(
        default=30, ge=0, description="how long read-only tool results are reused; 0 = never"
    )
    confirm_seconds: float = Field(
        default=600, gt=0, description="how long a write waits for the person's click"
    )
    call_timeout_seconds: float = Field(default=30, gt=0)


class Scarlet(Section):
    """Scarlet's agent API, for the console's runs and approvals pages: Jamie calls it with
    its own token and acts for the person, as it does with the MCP servers."""

    url: str = Field(pattern=r"^https?://[^/]+", description="e.g. http://scarlet:8001")
    token_file: Path = Field(description="file holding Jamie's own token for Scarlet's API")
    timeout_seconds: float = Field(default=10, gt=0)


class Ports(Section):
    api: int = Field(default=8000, ge=1, le=65535)
    portal: int = Field(default=3000, ge=1, le=65535)
    health: int = Field(default=9000, ge=1, le=65535)


class JamieConfig(Section):
    host: str = "127.0.0.1"
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names people and services use to reach Jamie (the ingress host, the "
        "Service name), besides the loopback names; any other Host is refused",
    )
    ports: Ports = Field(default_factory=Ports)
    model: Model = Field(default_factory=Model)
    mongodb: MongoDB
    redis: Redis
    servers: list[Server] = Field(default_factory=list)
    scarlet: Scarlet | None = Field(default=None, description="none: no Scarlet pages")
    auth: Auth
    limits: Limits = Field(default_factory=Limits)
    system_prompt: str = (
        "You are Jamie, an assistant for the people who run this Kubernetes platform. Use the "
        "tools to look before you answer: call a tool directly, without announcing it, and "
        "answer as soon as what you found answers the question; say what you checked. Never "
        "guess names or numbers. Changes run only after the person confirms them."
    )

    def mongodb_url(self) -> str:
        return read_secret(self.mongodb.url_file, "mongodb.url_file")

    def redis_url(self) -> str:
        return read_secret(self.redis.url_file, "redis.url_file")


def load_config(path: Path, environ: dict[str, str] | None = None) -> JamieConfig:
    """Read and validate the file; an error names the file, the field and the reason."""
    env = os.environ if environ is None else environ
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping")
    model = dict(raw.get("model") or {})
    if env.get("OLLAMA_HOST"):
        model["host"] = ollama_url(env["OLLAMA_HOST"])
    if env.get("JAMIE_MODEL"):
        model["name"] = env["JAMIE_MODEL"]
    raw = {**raw, "model": model}
    try:
        config = JamieConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc
    base = path.parent
    config.mongodb.url_file = base / config.mongodb.url_file
    config.redis.url_file = base / config.redis.url_file
    for server in config.servers:
        server.token_file = base / server.token_file
    if config.auth.users_file is not None:
        config.auth.users_file = base / config.auth.users_file
    if config.scarlet is not None:
        config.scarlet.token_file = base / config.scarlet.token_file
    return config
