"""`autodevops policy mongo-roles`: the least MongoDB privileges a policy needs. FerretDB has
no user management, so the commands are applied and proven against a real MongoDB by the
opt-in `live_mongodb.py` beside this file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from autodevops.servers.core.policy import Policy
from autodevops.servers.mongodb.roles import commands, privileges
from devstack.ferretdb import FerretHandle
from devstack.services import cli
from tests.servers.mongodb.conftest import shipped_policy


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
