"""Explain summaries of MongoDB's own shapes (FerretDB's are tested through the tool): classic
and slot-based plans, and an aggregation whose first stage is the query."""

from __future__ import annotations

from autodevops.servers.mongodb.explain import summarize


def test_an_index_scan_with_execution_stats() -> None:
    lines = summarize(
        {
            "queryPlanner": {
                "namespace": "shop.orders",
                "winningPlan": {
                    "stage": "LIMIT",
                    "inputStage": {
                        "stage": "FETCH",
                        "inputStage": {
                            "stage": "IXSCAN",
                            "indexName": "status_1",
                            "keyPattern": {"status": 1},
                        },
                    },
                },
                "rejectedPlans": [{"stage": "COLLSCAN"}],
            },
            "executionStats": {
                "nReturned": 10,
                "totalKeysExamined": 10,
                "totalDocsExamined": 10,
                "executionTimeMillis": 1,
            },
        }
    )
    assert lines == [
        "namespace: shop.orders",
        "winning plan: LIMIT ← FETCH ← IXSCAN status_1 {status: 1}",
        "rejected plans: 1",
        "examined: returned 10, keys 10, documents 10, ms 1",
    ]


def test_a_slot_based_collection_scan_in_an_aggregation_gets_the_hint() -> None:
    lines = summarize(
        {
            "stages": [
                {
                    "$cursor": {
                        "queryPlanner": {
                            "winningPlan": {
                                "queryPlan": {"stage": "COLLSCAN"},
                                "slotBasedPlan": {"stages": "..."},
                            }
                        },
                        "executionStats": {"nReturned": 3, "totalDocsExamined": 100000},
                    }
                },
                {"$group": {"_id": "$status"}},
            ]
        }
    )
    assert "winning plan: COLLSCAN" in lines
    assert "pipeline stages: $cursor → $group" in lines
    assert "examined: returned 3, documents 100000" in lines
    assert lines[-1] == "hint: a full collection scan; an index on the filtered fields would help"


def test_an_unknown_shape_says_so() -> None:
    assert summarize({"ok": 1}) == ["the server returned an explain result this tool cannot read"]
