"""Configuration sections both clients have: the MCP servers they call and the Ollama model."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from autodevops.common.config import ConfigError


class Section(BaseModel):
    """A block of a client's YAML config: an unknown key is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Server(Section):
    name: str = Field(pattern=r"^[a-zA-Z0-9-]+(_[a-zA-Z0-9-]+)*$")
    url: str = Field(description="streamable HTTP endpoint, e.g. http://kubernetes-mcp:8080/mcp")
    token_file: Path = Field(description="file holding the client's own bearer token for it")


class Model(Section):
    """The Ollama model; each client sets its own step and time budgets."""

    host: str = "http://127.0.0.1:11434"
    name: str = "qwen3:8b"
    num_ctx: int = Field(default=16384, ge=2048)
    max_steps: int = Field(default=8, ge=1, le=50)
    max_seconds: float = Field(default=180, gt=0)
    probe_seconds: float = Field(
        default=3, gt=0, description="how long to wait for Ollama to answer"
    )


def ollama_url(value: str) -> str:
    """`OLLAMA_HOST` may be `host`, `host:port` or a URL, as the Ollama CLI accepts."""
    if "://" in value:
        return value
    return f"http://{value}" if ":" in value else f"http://{value}:11434"


def read_secret(path: Path, field: str) -> str:
    """A secret file's content; a `ConfigError` naming the field when it is missing or empty."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {path}: {exc.strerror}") from exc
    if not value:
        raise ConfigError(f"{field}: {path} is empty")
    return value
