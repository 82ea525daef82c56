"""Opt-in: the commands `autodevops policy mongo-roles` prints, applied to a real MongoDB.

FerretDB (the stack's MongoDB) has no user management. Not collected by default (the name does
not start with `test_`); run it by path with a user that may create roles and users:

    MONGODB_LIVE_URL=mongodb://root:secret@127.0.0.1:27017/ \
        pytest tests/servers/mongodb/live_mongodb.py

Without MONGODB_LIVE_URL the test fails, saying so.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from autodevops.servers.core.policy import Policy
from autodevops.servers.mongodb.client import MongoBackend
from autodevops.servers.mongodb.roles import commands
from autodevops.servers.mongodb.server import SPEC
from tests.mcp_helpers import call_text, server_session

LIVE_URL = os.environ.get("MONGODB_LIVE_URL", "")


async def test_live_the_printed_role_is_enough_and_no_more(tmp_path: Path) -> None:
    """Applies the commands for a scoped policy, then uses the server as that user: every
    allowed tool works, and MongoDB itself refuses what the role was not given."""
    assert LIVE_URL, "set MONGODB_LIVE_URL to a real MongoDB 7.0+ (a user that may create roles)"
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
