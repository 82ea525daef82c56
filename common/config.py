"""Reading configuration files (policies, token files, Scarlet's and Jamie's configs): one
error type, and messages that name the file, the field and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


class ConfigError(ValueError):
    """A configuration file that cannot be used, reported as `file: field: reason` lines."""


def format_validation_error(source: str, error: ValidationError, prefix: str = "") -> str:
    """One `source: field: reason` line per problem, the field as a dotted path."""
    lines = []
    for item in error.errors():
        field = ".".join([prefix, *(str(part) for part in item["loc"])]).strip(".")
        lines.append(f"{source}: {field or '(top level)'}: {item['msg']}")
    return "\n".join(lines)


def read_yaml(path: Path) -> Any:
    """A YAML file's content; an unreadable or malformed file is a `ConfigError` naming it."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
