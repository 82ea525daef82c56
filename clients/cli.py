"""The `autodevops` command: the servers' `serve` and `policy`, Scarlet, Jamie, and backups
of their stores.

It sits on the top floor because it offers every part; each part is imported only when its
command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from autodevops.clients.backup.cli import add_commands as add_backup_commands
from autodevops.servers.cli import add_commands as add_server_commands

if TYPE_CHECKING:
    from autodevops.clients.jamie.config import Model


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    parser = build_parser(args)
    options = parser.parse_args(args)
    if not hasattr(options, "run"):
        parser.print_help()
        return 2
    code: int = options.run(options)
    return code


def build_parser(args: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The whole command line, or for `serve NAME ...` (`args`) only what that server needs."""
    parser = argparse.ArgumentParser(prog="autodevops", description=__doc__)
    commands = parser.add_subparsers(metavar="COMMAND")
    serving = args[1] if len(args) > 1 and args[0] == "serve" else None
    add_server_commands(commands, serving)
    scarlet = commands.add_parser(
        "scarlet",
        help="the autonomous operations agent, and its approvals queue",
        description="serve (default) runs Scarlet; waiting lists the actions that wait for "
        "approval; approve RUN ACTION and reject RUN ACTION decide one.",
    )
    scarlet.add_argument(
        "action",
        nargs="?",
        choices=["serve", "waiting", "approve", "reject"],
        default="serve",
    )
    scarlet.add_argument("ids", nargs="*", type=int, metavar="RUN ACTION")
    scarlet.add_argument("--config", type=Path, help="Scarlet's YAML config (to serve)")
    scarlet.add_argument(
        "--url",
        default=os.environ.get("SCARLET_URL", "http://127.0.0.1:8001"),
        help="Scarlet's agent API (default: $SCARLET_URL or http://127.0.0.1:8001)",
    )
    scarlet.add_argument(
        "--token-file", type=Path, help="file with an approver's API token (or $SCARLET_TOKEN)"
    )
    scarlet.add_argument("--reason", default="", help="recorded with the decision")
    scarlet.set_defaults(run=_scarlet)

    jamie = commands.add_parser("jamie", help="the chat assistant: API, portal and health")
    jamie.add_argument("--config", type=Path, help="Jamie's YAML config")
    jamie.add_argument(
        "action",
        nargs="?",
        choices=["serve", "hash-password", "vector-index"],
        default="serve",
        help="serve (default); hash-password: read a password, print its hash for users.yaml; "
        "vector-index: print the memory's vector index for MongoDB, sized for the embedding model",
    )
    jamie.set_defaults(run=_jamie)
    add_backup_commands(commands)
    return parser


def _jamie_vector_index(model: Model) -> int:
    """The `createSearchIndex` call for Jamie's memory, its dimensions asked of the model."""
    import json

    from ollama import AsyncClient

    from autodevops.clients.jamie.memory import (
        VECTOR_INDEX,
        embedding_dimensions,
        vector_index_definition,
    )

    asked = embedding_dimensions(AsyncClient(host=model.host), model.embed_name)
    try:
        dimensions = asyncio.run(asyncio.wait_for(asked, model.probe_seconds))
    except Exception as exc:  # unreachable, slow, no such model, no length stated: all say why
        why = str(exc) or type(exc).__name__
        print(f"Ollama at {model.host} did not size {model.embed_name}: {why}", file=sys.stderr)
        return 1
    definition = json.dumps(vector_index_definition(dimensions), indent=2)
    print(f'db.messages.createSearchIndex("{VECTOR_INDEX}", "vectorSearch", {definition});')
    return 0


def _scarlet(options: argparse.Namespace) -> int:
    from autodevops.clients.core.serving import ServeFailed
    from autodevops.common.config import ConfigError

    if options.action != "serve":
        return _scarlet_queue(options)
    if options.config is None or options.ids:
        print("autodevops scarlet: serve takes --config FILE and nothing else", file=sys.stderr)
        return 2
    from autodevops.clients.scarlet.config import load_config
    from autodevops.clients.scarlet.service import serve

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    try:
        asyncio.run(serve(load_config(options.config)))
    except (ConfigError, ServeFailed) as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _scarlet_queue(options: argparse.Namespace) -> int:
    from autodevops.clients.scarlet import decisions
    from autodevops.common.config import ConfigError

    wanted = 0 if options.action == "waiting" else 2
    if len(options.ids) != wanted:
        usage = "waiting" if wanted == 0 else f"{options.action} RUN ACTION"
        print(f"usage: autodevops scarlet {usage}", file=sys.stderr)
        return 2
    try:
        token = decisions.api_token(options.token_file)
        if options.action == "waiting":
            print(decisions.table(decisions.waiting(options.url, token)))
            return 0
        run, action = options.ids
        approve = options.action == "approve"
        done = decisions.decide(options.url, token, run, action, approve, options.reason)
    except (ConfigError, decisions.Refused) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"action {done['action']} of run {run}: {done['status']} by {done['decided_by']}")
    return 0


def _jamie(options: argparse.Namespace) -> int:
    from autodevops.common.config import ConfigError

    if options.action == "hash-password":
        import getpass

        from autodevops.clients.jamie.people import hash_password

        interactive = sys.stdin.isatty()
        password = getpass.getpass("Password: ") if interactive else sys.stdin.readline()
        password = password.rstrip("\n")
        if not password:
            print("an empty password cannot be used", file=sys.stderr)
            return 1
        print(hash_password(password))
        return 0
    if options.config is None:
        print(f"autodevops jamie: --config FILE is required to {options.action}", file=sys.stderr)
        return 2
    from autodevops.clients.core.serving import ServeFailed
    from autodevops.clients.jamie.config import load_config

    if options.action == "vector-index":
        try:
            return _jamie_vector_index(load_config(options.config).model)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 1
    from autodevops.clients.jamie.service import serve

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    _audit_to_stdout(logging.getLogger("autodevops.jamie.audit"))
    try:
        config = load_config(options.config)
        asyncio.run(serve(config))
    except (ConfigError, ServeFailed) as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _audit_to_stdout(audit: logging.Logger) -> None:
    """Audit records as bare JSON lines on stdout, apart from the diagnostic log on stderr."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit.addHandler(handler)
    audit.propagate = False


if __name__ == "__main__":
    sys.exit(main())
