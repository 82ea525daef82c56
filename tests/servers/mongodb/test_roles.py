"""`autodevops policy mongo-roles`: the least MongoDB privileges a policy needs. FerretDB has
no user management, so the commands are applied and proven against a real MongoDB only when
MONGODB_LIVE_URL (a user allowed to create roles and users) is given."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from autodevops.servers.core.policy import Policy
from autodevops.servers.mongodb.client import MongoBackend
from autodevops.servers.mongodb.roles import commands, privileges
from autodevops.servers.mongodb.server import SPEC
from devstack.ferretdb import FerretHandle
from devstack.services import cli
from tests.mcp_helpers import call_text, server_session
from tests.servers.mongodb.conftest import shipped_policy

LIVE_URL = os.environ.get("MONGODB_LIVE_URL", "")


def actions(policy: dict[str, Any]) -> dict[str, list[str]]:
    found = privileges(Policy.model_validate(policy))
    return {json.dumps(p["resource"], sort_keys=True): p["actions"] for p in found}


def test_the_shipped_policy_needs_reads_and_health_only() -> None:
    assert actions(shipped_policy()) == {
        '{"collection": "", "db": ""}': [
            "collStats",
            "find",
            "indexStats",
            "listCollections",
            "listIndexes",
        ],
        '{"cluster": true}': ["inprog", "listDatabases", "replSetGetStatus", "serverStatus"],
    }


def test_exact_names_become_exact_resources_and_kill_op_adds_killop() -> None:
    policy = {
        "server": "mongodb",
        "roles": {
            "team": {
                "tools": ["find", "list_collections"],
                "scope": {
                    "databases": {"allow": ["shop"]},
                    "collections": {"allow": ["shop.orders", "other.x"]},
                },
            },
            "dba": {"tools": ["kill_op"], "scope": {"kill_ops_of": ["report-*"]}},
        },
    }
    assert actions(policy) == {
        '{"collection": "", "db": "shop"}': ["listCollections"],
        '{"collection": "orders", "db": "shop"}': ["collStats", "find"],
        '{"cluster": true}': ["inprog", "killop"],
    }


def test_a_role_without_tools_adds_nothing() -> None:
    policy = {"server": "mongodb", "roles": {"none": {"tools": []}}}
    assert actions(policy) == {}


def test_the_command_prints_a_mongosh_script_and_json(tmp_path: Path) -> None:
    policy = Path(__file__).parents[3] / "policies" / "mongodb.yaml"
    script = subprocess.run(
        [*cli(), "policy", "mongo-roles", str(policy), "--name", "mcp-reader"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert 'const admin = db.getSiblingDB("admin");' in script
    assert '"createRole": "mcp-reader"' in script
    assert '"pwd": passwordPrompt()' in script
    printed = subprocess.run(
        [*cli(), "policy", "mongo-roles", str(policy), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(printed) == commands(
        Policy.model_validate(yaml.safe_load(policy.read_text())), "autodevops-mongodb"
    )
    wrong = tmp_path / "prometheus.yaml"
    wrong.write_text(yaml.safe_dump({"server": "prometheus", "roles": {"v": {"tools": ["*"]}}}))
    refused = subprocess.run(
        [*cli(), "policy", "mongo-roles", str(wrong)], capture_output=True, text=True
    )
    assert refused.returncode == 1 and "is 'prometheus', not 'mongodb'" in refused.stderr


async def test_ferretdb_has_no_user_management(ferretdb: FerretHandle) -> None:
    """Why the commands are proven only against a real MongoDB."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ferretdb.url)
    role, _ = commands(Policy.model_validate(shipped_policy()), "autodevops-mongodb")
    with pytest.raises(OperationFailure, match="no such command: 'createRole'"):
        await client.admin.command(role)
    await client.close()


@pytest.mark.skipif(not LIVE_URL, reason="opt-in: set MONGODB_LIVE_URL to a real MongoDB 7.0+")
async def test_live_the_printed_role_is_enough_and_no_more(tmp_path: Path) -> None:
    """Applies the commands for a scoped policy, then uses the server as that user: every
    allowed tool works, and MongoDB itself refuses what the role was not given."""
    suffix = uuid.uuid4().hex[:8]
    database, name, password = f"live_{suffix}", f"autodevops-live-{suffix}", uuid.uuid4().hex
    policy = {
        "server": "mongodb",
        "roles": {
            "team": {
                "tools": [t.name for t in SPEC.tools if t.name != "kill_op"],
                "scope": {
                    "databases": {"allow": [database]},
                    "collections": {"allow": [f"{database}.orders"]},
                },
            }
        },
    }
    root: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(LIVE_URL)
    await root[database].orders.insert_one({"n": 1})
    await root[database].secrets.insert_one({"n": 2})
    create_role, create_user = commands(Policy.model_validate(policy), name)
    await root.admin.command(create_role)
    await root.admin.command({**create_user, "pwd": password})
    address = LIVE_URL.split("@")[-1].split("/")[0]
    url = f"mongodb://{name}:{password}@{address}/?authSource=admin"
    try:
        async with server_session(SPEC, MongoBackend(url), policy, "team", tmp_path) as (mcp, _):
            calls: list[tuple[str, dict[str, Any]]] = [
                ("list_databases", {}),
                ("list_collections", {"database": database}),
                ("indexes", {"database": database, "collection": "orders"}),
                ("schema", {"database": database, "collection": "orders"}),
                ("find", {"database": database, "collection": "orders"}),
                ("count", {"database": database, "collection": "orders"}),
                ("aggregate", {"database": database, "collection": "orders", "pipeline": []}),
                ("explain", {"database": database, "collection": "orders"}),
                ("server_status", {}),
                ("current_ops", {}),
            ]
            for tool, arguments in calls:
                text, error = await call_text(mcp, tool, arguments)
                assert not error, (tool, text)
        user: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
        with pytest.raises(OperationFailure, match="not authorized"):
            await user[database].secrets.find_one({})
        with pytest.raises(OperationFailure, match="not authorized"):
            await user[database].orders.insert_one({"n": 3})
        with pytest.raises(OperationFailure, match="not authorized"):
            await user.admin.command("killOp", op=1)
        await user.close()
    finally:
        await root.admin.command("dropUser", name)
        await root.admin.command("dropRole", name)
        await root.drop_database(database)
        await root.close()
