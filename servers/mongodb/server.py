"""The MongoDB MCP server: tools, backend client, default policy, and `policy mongo-roles`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodevops.common.config import ConfigError
from autodevops.servers.core.spec import Command, ServerSpec, ToolSpec

from .scope import MongoScope

if TYPE_CHECKING:
    from .client import MongoBackend

DEFAULT_URI = "mongodb://127.0.0.1:27017/"


def _tools() -> Sequence[ToolSpec[Any]]:
    from .tools import TOOLS

    return TOOLS


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--uri-file",
        type=Path,
        help="file holding the mongodb:// URI with the server's own credentials "
        f"(default: $MONGODB_URL, else {DEFAULT_URI})",
    )


def uri(options: argparse.Namespace) -> str:
    """The URI from --uri-file (a mounted Secret), else $MONGODB_URL, else the local default."""
    if options.uri_file is None:
        return os.environ.get("MONGODB_URL", "") or DEFAULT_URI
    path: Path = options.uri_file
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"--uri-file {options.uri_file}: {exc.strerror}") from exc
    if not text.startswith(("mongodb://", "mongodb+srv://")):
        raise ConfigError(
            f"--uri-file {options.uri_file}: expected a mongodb:// or mongodb+srv:// URI"
        )
    return text


def _connect(options: argparse.Namespace) -> MongoBackend:
    from pymongo.errors import ConfigurationError

    from autodevops.common.unavailable import scrub_credentials

    from .client import MongoBackend, where

    text = uri(options)
    try:
        return MongoBackend(text)
    except ConfigurationError as exc:
        message = scrub_credentials(str(exc), where(text)[1])
        raise ConfigError(f"MongoDB URI: {message}") from exc


def _roles_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path)
    parser.add_argument("--name", default="autodevops-mongodb", help="role and user name")
    parser.add_argument(
        "--format", choices=["mongosh", "json"], default="mongosh", help="script or commands"
    )


def _roles(options: argparse.Namespace) -> int:
    from .roles import print_roles

    return print_roles(options.file, options.name, options.format)


SPEC = ServerSpec(
    name="mongodb",
    title="autodevops-mongodb",
    instructions=(
        "Read-only MongoDB: databases, collections, indexes, inferred schemas, find, count, "
        "aggregate (read-only stages) and explain, plus server health. Documents come as JSON "
        "lines in relaxed Extended JSON, which filters also accept."
    ),
    load_tools=_tools,
    scope_model=MongoScope,
    default_policy="mongodb.yaml",
    add_arguments=_add_arguments,
    connect=_connect,
    commands=[
        Command(
            "policy",
            "mongo-roles",
            "print the MongoDB createRole/createUser commands a mongodb-server policy needs",
            _roles_arguments,
            _roles,
        )
    ],
)
