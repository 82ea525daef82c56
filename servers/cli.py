"""The servers' part of the `autodevops` command: `serve` and `policy`, and the commands a
server's spec declares. The command itself is assembled one floor up, with the clients'."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from autodevops.servers.registry import SERVERS, load_spec

if TYPE_CHECKING:
    from autodevops.servers.core.policy import Policy
    from autodevops.servers.core.spec import ServerSpec


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], serving: str | None = None
) -> None:
    """Servers add commands of their own through their spec (`policy rbac` is the Kubernetes
    server's); specs are light, so this imports no server's tools or backend client. With
    `serving` (the command line is `serve NAME ...`), only that server's spec is read: the
    others' arguments and commands cannot be on that line, and a cold start pays for one."""
    serve = commands.add_parser("serve", help="run an MCP server")
    servers = serve.add_subparsers(metavar="SERVER", required=True)
    policy = commands.add_parser("policy", help="work with policy files")
    groups = {"policy": policy.add_subparsers(metavar="ACTION", required=True)}
    check = groups["policy"].add_parser("check", help="validate a policy file")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_policy_check)
    for name in SERVERS:
        server = servers.add_parser(name, help=f"the {name} MCP server")
        if serving is not None and name != serving:
            continue
        spec = load_spec(name)
        if spec.check_arguments is not None:
            spec.check_arguments(check)
        _add_serve_arguments(server)
        spec.add_arguments(server)
        server.set_defaults(run=_serve, server=name)
        for command in spec.commands:
            if command.group not in groups:
                group = commands.add_parser(command.group, help=f"{command.group} commands")
                groups[command.group] = group.add_subparsers(metavar="ACTION", required=True)
            added = groups[command.group].add_parser(command.name, help=command.help)
            command.add_arguments(added)
            added.set_defaults(run=command.run)


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", type=Path, help="policy file (default: the shipped one)")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address")
    # Not 8080: Scarlet's health port. Locally: kubernetes on 8081, prometheus on 8082.
    parser.add_argument("--port", type=int, default=8081, help="HTTP port (default 8081)")
    parser.add_argument("--tokens-file", type=Path, help="YAML list of {token, subject, roles}")
    parser.add_argument(
        "--allowed-host", action="append", default=[], help="extra Host name (repeatable)"
    )
    parser.add_argument(
        "--allowed-origin", action="append", default=[], help="allowed Origin (repeatable)"
    )
    parser.add_argument(
        "--audit-log",
        type=Path,
        help="audit JSON lines file, or - for stdout (HTTP only; default stderr)",
    )
    parser.add_argument(
        "--token-review",
        action="store_true",
        help="over HTTP, also accept Kubernetes tokens, verified with TokenReview",
    )
    parser.add_argument(
        "--token-audience",
        action="append",
        default=[],
        metavar="NAME",
        help="audience a Kubernetes token must be for (repeatable; required with --token-review)",
    )
    parser.add_argument(
        "--token-review-kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        metavar="FILE",
        help="kubeconfig for TokenReview (default: $KUBECONFIG, else in-cluster config)",
    )


def _policy_check(options: argparse.Namespace) -> int:
    from autodevops.common.config import ConfigError
    from autodevops.common.unavailable import BackendUnavailable
    from autodevops.servers.core.policy import load_policy

    try:
        policy = load_policy(options.file)
        spec = load_spec(policy.server)
        load_policy(options.file, spec.scope_model)
        problems = spec.check_policy(policy, options) if spec.check_policy else []
    except KeyError as exc:
        print(f"{options.file}: server: {exc.args[0]}", file=sys.stderr)
        return 1
    except (ConfigError, BackendUnavailable) as exc:
        print(exc, file=sys.stderr)
        return 1
    if problems:
        for problem in problems:
            print(f"{options.file}: {problem}", file=sys.stderr)
        return 1
    tools = {t.name for t in spec.tools}
    for name, role in policy.roles.items():
        allowed = sorted(t for t in tools if role.allows(t))
        print(f"role {name}: {', '.join(allowed) or 'no tools'}")
    for binding in policy.bindings:
        who = f"subject {binding.subject}" if binding.subject else f"group {binding.group}"
        print(f"binding {who}: {', '.join(binding.roles)}")
    for delegate in policy.delegates:
        print(f"delegate {delegate.subject} may act for people with: {', '.join(delegate.roles)}")
    print(f"{options.file}: valid policy for the {policy.server} server")
    return 0


def _backend_agrees(
    spec: ServerSpec, policy: Policy, policy_path: Path, options: argparse.Namespace
) -> bool:
    """The policy's names resolve against the backend; one that cannot answer yet is logged,
    not fatal, so the server still starts and reports itself not ready."""
    from autodevops.common.config import ConfigError
    from autodevops.common.unavailable import BackendUnavailable

    if spec.check_policy is None:
        return True
    try:
        problems = spec.check_policy(policy, options)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return False
    except BackendUnavailable as exc:
        logging.getLogger("autodevops.serve").warning(
            "policy names not checked against the backend: %s", exc.message
        )
        return True
    for problem in problems:
        print(f"{policy_path}: {problem}", file=sys.stderr)
    return not problems


def _serve(options: argparse.Namespace) -> int:
    from autodevops.common.config import ConfigError
    from autodevops.common.identity import TokenStore
    from autodevops.servers.core.app import build_server, serve_stdio
    from autodevops.servers.core.audit import AuditLog
    from autodevops.servers.core.identity import load_token_store
    from autodevops.servers.core.policy import load_policy
    from autodevops.servers.core.token_review import (
        KubeReviewer,
        TokenReviewAuthenticator,
        TokenReviewError,
    )

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if options.token_review and (options.transport != "http" or not options.token_audience):
        print("--token-review needs --transport http and --token-audience", file=sys.stderr)
        return 1
    if options.transport == "stdio" and options.audit_log == Path("-"):
        print("--audit-log - (stdout) needs --transport http: stdio carries MCP", file=sys.stderr)
        return 1
    if options.transport == "http" and not (options.tokens_file or options.token_review):
        print(
            "--tokens-file is required with --transport http (or --token-review)", file=sys.stderr
        )
        return 1
    spec = load_spec(options.server)
    policy_path = options.policy or Path(
        str(resources.files("autodevops.policies").joinpath(spec.default_policy))
    )
    try:
        policy = load_policy(policy_path, spec.scope_model)
        if policy.server != spec.name:
            raise ConfigError(f"{policy_path}: server: is '{policy.server}', not '{spec.name}'")
        tokens = load_token_store(options.tokens_file, policy) if options.tokens_file else None
        token_review = (
            TokenReviewAuthenticator(
                KubeReviewer(options.token_review_kubeconfig), options.token_audience, policy
            )
            if options.token_review
            else None
        )
    except (ConfigError, TokenReviewError) as exc:
        print(exc, file=sys.stderr)
        return 1
    if not _backend_agrees(spec, policy, policy_path, options):
        return 1
    try:
        backend = spec.connect(options)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    audit = AuditLog(options.audit_log)
    server = build_server(spec, policy, backend, audit)
    try:
        if options.transport == "stdio":
            asyncio.run(serve_stdio(server))
        else:
            from autodevops.servers.core.http_app import HttpOptions, serve_http

            http = HttpOptions(
                host=options.host,
                port=options.port,
                tokens=tokens or TokenStore([]),
                token_review=token_review,
                allowed_hosts=options.allowed_host,
                allowed_origins=options.allowed_origin,
            )
            asyncio.run(serve_http(server, http, audit))
    except KeyboardInterrupt:
        pass
    finally:
        audit.close()
    return 0
