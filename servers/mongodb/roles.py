"""The MongoDB privileges a mongodb-server policy needs, as `createRole`/`createUser` commands:
`autodevops policy mongo-roles FILE`.

The server uses one MongoDB user, so its role is the union of what the policy's roles may do,
and only for the tools they are allowed: `find` and `listCollections` on the allowed
collections, `collStats`/`listIndexes`/`indexStats` for the catalogue tools, `serverStatus`
and `replSetGetStatus` for server_status, `inprog` for current_ops, `killop` for kill_op.
MongoDB names resources exactly: exact database and collection names become exact
resources; a glob widens to the database (or to every database), and the gate narrows it
back (denied names included, which MongoDB privileges cannot express).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from autodevops.common.config import ConfigError
from autodevops.servers.core.policy import Policy, load_policy

from .scope import MongoScope

Resource = tuple[str, str] | None  # (db, collection); None = the cluster
_READ_DATA = {"find", "count", "aggregate", "schema", "explain"}
_COLLECTION_ACTIONS = {
    "list_collections": ["collStats"],
    "indexes": ["listIndexes", "indexStats", "collStats"],
}
_CLUSTER_ACTIONS = {
    "list_databases": ["listDatabases"],
    "server_status": ["serverStatus", "replSetGetStatus"],
    "current_ops": ["inprog"],
    "kill_op": ["inprog", "killop"],
}


def privileges(policy: Policy) -> list[dict[str, Any]]:
    """Privilege documents for every allowed tool of every role, merged by resource."""
    wanted: dict[Resource, set[str]] = defaultdict(set)
    for role in policy.roles.values():
        scope = MongoScope.model_validate(role.scope)
        tools = {
            t for t in (*_READ_DATA, *_COLLECTION_ACTIONS, *_CLUSTER_ACTIONS) if role.allows(t)
        }
        collections = _collections(scope)
        for tool in tools:
            if tool in _READ_DATA:
                _grant(wanted, collections, "find")
            for action in _COLLECTION_ACTIONS.get(tool, []):
                _grant(wanted, collections, action)
            if tool == "list_collections":
                _grant(wanted, _databases(scope), "listCollections")
            for action in _CLUSTER_ACTIONS.get(tool, []):
                wanted[None].add(action)
    return [
        {
            "resource": {"cluster": True}
            if resource is None
            else {"db": resource[0], "collection": resource[1]},
            "actions": sorted(actions),
        }
        for resource, actions in sorted(wanted.items(), key=lambda item: _order(item[0]))
    ]


def commands(policy: Policy, name: str) -> list[dict[str, Any]]:
    """createRole and createUser (without its password) for the server's user, in admin."""
    return [
        {"createRole": name, "privileges": privileges(policy), "roles": []},
        {"createUser": name, "roles": [{"role": name, "db": "admin"}]},
    ]


def _collections(scope: MongoScope) -> list[tuple[str, str]]:
    exact = scope.collections.exact_allow()
    if exact is not None:
        pairs = [tuple(ns.split(".", 1)) for ns in exact if "." in ns]
        return [(db, coll) for db, coll in pairs if scope.visible_collection(db, coll)]
    return [(db, "") for db, _ in _databases(scope)]


def _databases(scope: MongoScope) -> list[tuple[str, str]]:
    exact = scope.databases.exact_allow()
    if exact is None:
        return [("", "")]
    return [(db, "") for db in exact]


def _grant(wanted: dict[Resource, set[str]], resources: list[tuple[str, str]], action: str) -> None:
    for resource in resources:
        wanted[resource].add(action)


def _order(resource: Resource) -> tuple[int, str, str]:
    return (1, "", "") if resource is None else (0, *resource)


def mongosh(policy: Policy, name: str, source: str) -> str:
    create_role, create_user = commands(policy, name)
    create_user = {**create_user, "pwd": "__PROMPT__"}
    script = [
        f"// The MongoDB role and user of the autodevops MongoDB server, derived from {source}",
        f"// (roles: {', '.join(policy.roles)}). Globs in the policy widen to whole databases",
        "// here; the server's gate narrows every call to the policy's scope.",
        'const admin = db.getSiblingDB("admin");',
        f"admin.runCommand({json.dumps(create_role, indent=2)});",
        f"admin.runCommand({json.dumps(create_user)});".replace('"__PROMPT__"', "passwordPrompt()"),
    ]
    return "\n".join(script) + "\n"


def print_roles(path: Path, name: str, output: str) -> int:
    try:
        policy = load_policy(path, MongoScope)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if policy.server != "mongodb":
        print(f"{path}: server: is '{policy.server}', not 'mongodb'", file=sys.stderr)
        return 1
    if output == "json":
        print(json.dumps(commands(policy, name), indent=2))
    else:
        print(mongosh(policy, name, str(path)), end="")
    return 0
