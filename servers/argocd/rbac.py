"""What the Argo CD server needs from its backends for a policy: the least Kubernetes RBAC in
core mode (`autodevops policy rbac`), and in API mode the Argo CD RBAC lines (`policy.csv`)
for its account (`autodevops policy argocd-rbac`). Both are the union of what its roles may do.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from fnmatch import fnmatchcase
from pathlib import Path

from autodevops.common.config import ConfigError
from autodevops.servers.core.policy import Policy, load_policy
from autodevops.servers.kubernetes.rbac import rbac_yaml

from .scope import ArgoScope

READS = (
    "list_applications",
    "get_application",
    "application_diff",
    "application_history",
    "resource_tree",
    "application_events",
)
# Per tool: Kubernetes (group, resource, verb) in core mode, and the Argo CD RBAC action.
CORE_NEEDS: dict[str, list[tuple[str, str, str]]] = {
    **{name: [("argoproj.io", "applications", "get")] for name in READS},
    "list_applications": [("argoproj.io", "applications", "list")],
    "application_events": [("argoproj.io", "applications", "get"), ("", "events", "list")],
    **{
        name: [("argoproj.io", "applications", "get"), ("argoproj.io", "applications", "patch")]
        for name in (
            "sync_application",
            "rollback_application",
            "refresh_application",
            "terminate_operation",
        )
    },
}
ARGO_ACTION = {
    **dict.fromkeys(READS, "get"),
    "refresh_application": "get",
    "sync_application": "sync",
    "rollback_application": "sync",
    "terminate_operation": "sync",
}


def _scopes(policy: Policy) -> list[tuple[list[str], ArgoScope]]:
    """Each role's allowed tools (of those known here) and its scope."""
    return [
        (
            [t for t in CORE_NEEDS if role.allows(t)],
            ArgoScope.model_validate(role.scope),
        )
        for role in policy.roles.values()
    ]


def core_manifests(policy: Policy, name: str, service_account: str | None = None) -> str:
    """Roles in the exact Application namespaces (a ClusterRole when they are globs)."""
    rules: dict[str | None, dict[tuple[str, str], set[str]]] = defaultdict(lambda: defaultdict(set))
    for tools, scope in _scopes(policy):
        exact = scope.app_namespaces.exact_allow()
        namespaces: list[str | None] = list(exact) if exact is not None else [None]
        for tool in tools:
            for group, resource, verb in CORE_NEEDS[tool]:
                for namespace in namespaces:
                    rules[namespace][(group, resource)].add(verb)
    return rbac_yaml(policy.server, rules, name, service_account, " in core mode")


def argocd_policy_csv(policy: Policy, account: str) -> str:
    """`p` lines for a role named after the account and the `g` line giving it to the account.

    Argo CD's RBAC knows projects and application names (objects `project/app`, or
    `project/namespace/app` for Applications outside Argo CD's namespace) but not destination
    namespaces: the server's scope enforces those.
    """
    role = f"role:{account}"
    allow: set[tuple[str, str]] = set()
    deny: set[str] = set()
    for tools, scope in _scopes(policy):
        actions = {ARGO_ACTION[t] for t in tools}
        namespaces = scope.app_namespaces.allow
        for project in scope.projects.allow:
            for app in scope.applications.allow:
                for action in actions:
                    for obj in _objects(project, namespaces, app):
                        allow.add((action, obj))
        if actions:
            deny.update(f"{p}/*" for p in scope.projects.deny)
            deny.update(f"*/{a}" for a in scope.applications.deny)
    # A line another line's glob already covers says nothing more.
    allow = {
        (action, obj)
        for action, obj in allow
        if not any(a == action and o != obj and fnmatchcase(obj, o) for a, o in allow)
    }
    lines = [
        f"# Argo CD RBAC for the account '{account}' that the argocd MCP server uses in API "
        "mode. Destination namespaces are not expressible here: the server enforces them.",
        *(f"p, {role}, applications, {action}, {obj}, allow" for action, obj in sorted(allow)),
        *(f"p, {role}, applications, *, {obj}, deny" for obj in sorted(deny)),
        f"g, {account}, {role}",
    ]
    return "\n".join(lines) + "\n"


def _objects(project: str, namespaces: list[str], app: str) -> list[str]:
    if namespaces == ["argocd"]:
        return [f"{project}/{app}"]
    return [f"{project}/{namespace}/{app}" for namespace in namespaces]


def _load(path: Path) -> Policy | None:
    try:
        if load_policy(path).server != "argocd":
            print(f"{path}: server: Argo CD RBAC is derived for argocd policies", file=sys.stderr)
            return None
        return load_policy(path, ArgoScope)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def csv_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path)
    parser.add_argument(
        "--account",
        default="autodevops-mcp",
        help="the Argo CD local account the server's token belongs to (default %(default)s)",
    )


def print_csv(options: argparse.Namespace) -> int:
    """`autodevops policy argocd-rbac`: policy.csv lines on stdout (exit 1 on a bad file)."""
    policy = _load(options.file)
    if policy is None:
        return 1
    print(argocd_policy_csv(policy, options.account), end="")
    return 0
