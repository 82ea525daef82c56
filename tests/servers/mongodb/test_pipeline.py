"""Adversarial filters and pipelines: what must never run, at any depth, and every collection
a pipeline names checked against the caller's scope."""

from __future__ import annotations

from typing import Any

import pytest

from autodevops.servers.core.errors import InvalidArgument, OutOfScope
from autodevops.servers.mongodb.pipeline import check_pipeline, check_value, from_json
from autodevops.servers.mongodb.scope import MongoScope
from devstack.services import audit_lines
from tests.mcp_helpers import call_text
from tests.servers.mongodb.conftest import Session, shipped_policy

VIEWER = MongoScope.model_validate(shipped_policy()["roles"]["viewer"]["scope"])
FUNCTION = {"$function": {"body": "function() { return true }", "args": [], "lang": "js"}}
ACCUMULATOR = {
    "$accumulator": {
        "init": "function() { return 0 }",
        "accumulate": "function(s) { return s }",
        "accumulateArgs": [],
        "merge": "function(a, b) { return a }",
        "lang": "js",
    }
}


def nestings(stage: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The stage at the top level and inside every stage that holds a pipeline."""
    return {
        "top": [stage],
        "facet": [{"$facet": {"a": [{"$match": {}}], "b": [stage]}}],
        "lookup": [{"$lookup": {"from": "orders", "pipeline": [stage], "as": "x"}}],
        "unionWith": [{"$unionWith": {"coll": "orders", "pipeline": [stage]}}],
        "deep": [
            {"$facet": {"a": [{"$unionWith": {"coll": "orders", "pipeline": [
                {"$lookup": {"from": "orders", "pipeline": [stage], "as": "y"}}
            ]}}]}}
        ],
    }  # fmt: skip


def check(pipeline: Any, scope: MongoScope = VIEWER) -> list[str]:
    return check_pipeline(from_json(pipeline, "pipeline"), "shop", scope)


@pytest.mark.parametrize(
    "stage",
    [
        {"$out": "stolen"},
        {"$merge": {"into": "stolen"}},
        {"$merge": {"into": {"db": "admin", "coll": "x"}}},
        {"$currentOp": {}},
        {"$collStats": {}},
        {"$listSessions": {}},
        {"$changeStream": {}},
        {"$planCacheStats": {}},
    ],
)
@pytest.mark.parametrize("where", ["top", "facet", "lookup", "unionWith", "deep"])
def test_forbidden_stages_are_refused_at_every_depth(stage: dict[str, Any], where: str) -> None:
    with pytest.raises(OutOfScope, match=rf"stage \{next(iter(stage))} is refused"):
        check(nestings(stage)[where])


@pytest.mark.parametrize(
    ("operator", "stage"),
    [
        ("$function", {"$match": {"$expr": FUNCTION}}),
        ("$function", {"$project": {"x": FUNCTION}}),
        ("$function", {"$addFields": {"x": {"$cond": [True, FUNCTION, 1]}}}),
        ("$accumulator", {"$group": {"_id": None, "x": ACCUMULATOR}}),
        ("$where", {"$match": {"$where": "sleep(10000) || true"}}),
        ("$where", {"$match": {"$or": [{"a": 1}, {"$where": "true"}]}}),
        ("$function", {"$bucket": {"groupBy": FUNCTION, "boundaries": [0, 1]}}),
    ],
)
@pytest.mark.parametrize("where", ["top", "facet", "lookup", "unionWith", "deep"])
def test_javascript_is_refused_at_every_depth(
    operator: str, stage: dict[str, Any], where: str
) -> None:
    with pytest.raises(OutOfScope, match=rf"\{operator} runs JavaScript"):
        check(nestings(stage)[where])


def test_javascript_in_lookup_let_and_graph_lookup_is_refused() -> None:
    with pytest.raises(OutOfScope, match=r"\.let\.x\.\$function"):
        check([{"$lookup": {"from": "orders", "let": {"x": FUNCTION}, "pipeline": [], "as": "j"}}])
    with pytest.raises(OutOfScope, match=r"\$function runs JavaScript"):
        check(
            [
                {
                    "$graphLookup": {
                        "from": "orders",
                        "startWith": FUNCTION,
                        "connectFromField": "a",
                        "connectToField": "b",
                        "as": "g",
                    }
                }
            ]
        )


@pytest.mark.parametrize(
    "value",
    [
        {"$where": "this.a == 1"},
        {"$expr": FUNCTION},
        {"$and": [{"a": 1}, {"$expr": {"$gt": [FUNCTION, 1]}}]},
        {"a": {"$elemMatch": {"$where": "true"}}},
        {"$code": "function() {}"},
        {"a": {"$code": "function() {}", "$scope": {}}},
    ],
)
def test_javascript_in_a_find_filter_is_refused(value: dict[str, Any]) -> None:
    with pytest.raises(OutOfScope, match="JavaScript"):
        check_value(from_json(value, "filter"), "filter")


def test_pipelines_name_only_collections_in_scope() -> None:
    assert check([{"$lookup": {"from": "customers", "as": "c", "localField": "a",
                               "foreignField": "b"}}]) == ["customers"]  # fmt: skip
    assert check([{"$unionWith": "events"}, {"$unionWith": {"coll": "orders"}}]) == [
        "events",
        "orders",
    ]
    team = MongoScope.model_validate(
        {"databases": {"allow": ["shop"]}, "collections": {"allow": ["shop.orders"]}}
    )
    refused = [
        [{"$lookup": {"from": "customers", "localField": "a", "foreignField": "b", "as": "c"}}],
        [{"$unionWith": "customers"}],
        [{"$facet": {"a": [{"$unionWith": {"coll": "customers", "pipeline": []}}]}}],
        [{"$graphLookup": {"from": "customers", "startWith": "$a", "connectFromField": "a",
                           "connectToField": "b", "as": "g"}}],
        [{"$lookup": {"from": "orders", "as": "x", "pipeline": [
            {"$lookup": {"from": "customers", "pipeline": [], "as": "y"}}]}}],
    ]  # fmt: skip
    for pipeline in refused:
        with pytest.raises(OutOfScope, match=r"collection 'shop\.customers' is outside your scope"):
            check(pipeline, team)


@pytest.mark.parametrize(
    "pipeline",
    [
        [{"$lookup": {"from": {"db": "jamie", "coll": "messages"}, "as": "x", "pipeline": []}}],
        [{"$unionWith": {"coll": {"db": "admin", "coll": "system.users"}}}],
    ],
)
def test_collections_of_another_database_are_refused(pipeline: list[dict[str, Any]]) -> None:
    with pytest.raises(OutOfScope, match="another database"):
        check(pipeline)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("jamie.messages", "reads as collection 'messages' of database 'jamie'"),
        ("admin.system.users", "outside your scope"),
        ("admin.users", "reads as collection 'users' of database 'admin'"),
        ("system.profile", "outside your scope"),
    ],
)
def test_collection_names_with_a_database_prefix_are_refused(name: str, reason: str) -> None:
    with pytest.raises(OutOfScope, match=reason):
        VIEWER.check_collection("shop", name)
    with pytest.raises(OutOfScope, match=reason):
        check([{"$unionWith": name}])


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("\uff4aamie", "not in Unicode NFKC form"),  # fullwidth j
        ("j\u0430mie", "outside ASCII"),  # Cyrillic a
        ("ja\u200bmie", "control or invisible"),  # zero-width space
        ("jamie\u202e", "control or invisible"),  # right-to-left override
        ("JAMIE", None),
    ],
)
def test_lookalike_names_are_refused(name: str, reason: str | None) -> None:
    viewer = MongoScope.model_validate({"databases": {"allow": ["*"], "deny": ["jamie", "admin"]}})
    expected: type[Exception] = InvalidArgument if reason else OutOfScope
    with pytest.raises(expected, match=reason or "database 'JAMIE' is outside your scope"):
        viewer.check_database(name)
    if reason:
        with pytest.raises(InvalidArgument, match=reason):
            viewer.check_collection("shop", name)
        with pytest.raises(InvalidArgument, match=reason):
            check([{"$lookup": {"from": name, "pipeline": [], "as": "x"}}], viewer)


def test_mongodb_own_databases_and_system_collections_need_naming() -> None:
    everything = MongoScope.model_validate(
        {"databases": {"allow": ["*"]}, "collections": {"allow": ["*"]}}
    )
    for database in ("admin", "Config", "local"):
        with pytest.raises(OutOfScope, match="is MongoDB's own"):
            everything.check_database(database)
    with pytest.raises(OutOfScope, match="is a system collection"):
        everything.check_collection("shop", "system.profile")
    named = MongoScope.model_validate(
        {"databases": {"allow": ["admin"]}, "collections": {"allow": ["admin.system.users"]}}
    )
    assert named.check_collection("admin", "system.users") == "system.users"


def test_non_ascii_names_when_the_role_allows_them() -> None:
    scope = MongoScope.model_validate({"non_ascii_names": True})
    assert scope.check_collection("shop", "bestellungen_\u00fcbersicht")
    with pytest.raises(InvalidArgument, match="NFKC"):
        scope.check_collection("shop", "\uff4aamie")


async def test_refusals_reach_the_client_and_the_audit(session: Session, shop: str) -> None:
    async with session("viewer") as (client, audit):
        text, error = await call_text(
            client,
            "aggregate",
            {
                "database": shop,
                "collection": "orders",
                "pipeline": [{"$facet": {"x": [{"$merge": {"into": "orders"}}]}}],
            },
        )
        assert error and "pipeline[0].$facet.x[0]: stage $merge is refused" in text
        text, error = await call_text(
            client,
            "find",
            {"database": shop, "collection": "orders", "filter": {"$where": "sleep(100000)"}},
        )
        assert error and "filter.$where: $where runs JavaScript" in text
    records = audit_lines(audit)
    assert [(r["decision"], r["reason"]) for r in records] == [("deny", "out_of_scope")] * 2


async def test_jamie_memory_is_hidden_from_viewer_and_readable_to_admin(
    session: Session, shop: str
) -> None:
    async with session("viewer") as (client, _):
        text, error = await call_text(client, "list_collections", {"database": "jamie"})
        assert not error and "(none)" in text
        for collection in ("conversations", "messages"):
            text, error = await call_text(
                client, "find", {"database": "jamie", "collection": collection}
            )
            assert error and f"collection 'jamie.{collection}' is outside your scope" in text
        text, error = await call_text(
            client,
            "aggregate",
            {
                "database": shop,
                "collection": "orders",
                "pipeline": [{"$unionWith": "jamie.messages"}],
            },
        )
        assert error and "reads as collection 'messages' of database 'jamie'" in text
    async with session("admin") as (client, _):
        text, error = await call_text(client, "list_collections", {"database": "jamie"})
        assert not error and "messages" in text and "conversations" in text
        text, error = await call_text(
            client,
            "find",
            {"database": "jamie", "collection": "messages", "filter": {"user": "alice"}},
        )
        assert not error and '"content":"hello"' in text


async def test_a_scoped_role_sees_only_its_collections(session: Session, shop: str) -> None:
    async with session("team") as (client, _):
        text, _ = await call_text(client, "list_databases", {})
        assert [line.split()[0] for line in text.splitlines()[1:]] == [shop]
        text, _ = await call_text(client, "list_collections", {"database": shop})
        assert sorted(line.split()[0] for line in text.splitlines()[1:]) == ["customers", "orders"]
        text, error = await call_text(client, "count", {"database": shop, "collection": "events"})
        assert error and f"collection '{shop}.events' is outside your scope" in text


def test_kill_op_reaches_only_operations_of_the_named_users() -> None:
    scope = MongoScope.model_validate({"kill_ops_of": ["report-*", "etl@analytics"]})
    assert scope.may_kill([("report-nightly", "admin")])
    assert scope.may_kill([("etl", "analytics")])
    assert not scope.may_kill([("etl", "admin")])
    assert not scope.may_kill([("report-nightly", "admin"), ("root", "admin")])
    assert not scope.may_kill([]), "an operation without a user is nobody's to kill"
    assert not MongoScope.model_validate({}).may_kill([("report-nightly", "admin")]), (
        "nobody by default"
    )
