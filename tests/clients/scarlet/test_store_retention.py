"""Scarlet's retention purge against the real PostgreSQL: audit rows outlive operation rows."""

from __future__ import annotations

from psycopg import sql

from autodevops.clients.scarlet.store import OpsStore

from .store_helpers import (
    fresh_database,  # noqa: F401 (a fixture)
    query,
    store_on_fresh_database,  # noqa: F401 (a fixture)
)


async def test_purge_keeps_audit_rows_longer_than_operation_rows(
    store: OpsStore, db_url: str
) -> None:
    old, _ = await store.runs.submit("manual", "old")
    recent, _ = await store.runs.submit("manual", "recent")
    ancient, _ = await store.runs.submit("manual", "ancient")
    still_open, _ = await store.runs.submit("manual", "open")
    for run in (old, recent, ancient, still_open):
        await store.runs.add_step(run.id, "analyzer", {})
        await store.runs.record_tool_call(run.id, "k8s__get", {}, "ok", 1.0, 10)
        action = await store.actions.propose(run.id, "k8s__restart", {}, "w", "approval", None)
        await store.actions.decide(action.id, True, "alice")
    for run in (old, recent, ancient):
        await store.runs.finish(run.id, "completed", {})
    for table in ("runs", "steps", "tool_calls", "actions"):
        for run_id, age in ((old.id, 91), (ancient.id, 800), (still_open.id, 91)):
            column = "id" if table == "runs" else "run_id"
            await query(
                db_url,
                sql.SQL(
                    "UPDATE {} SET created_at = now() - make_interval(days => %s) WHERE {} = %s"
                ).format(sql.Identifier(table), sql.Identifier(column)),
                age,
                run_id,
            )
    for run_id, age in ((old.id, 91), (ancient.id, 731), (still_open.id, 91)):
        await query(
            db_url,
            "UPDATE approvals SET decided_at = now() - make_interval(days => %s) WHERE run_id = %s",
            age,
            run_id,
        )

    counts = await store.retention.purge()
    assert counts == {"steps": 3, "tool_calls": 3, "actions": 2, "runs": 2, "approvals": 1}
    assert await store.runs.get(old.id) is None and await store.runs.get(ancient.id) is None
    kept = await store.runs.detail(recent.id)
    assert kept is not None and len(kept["steps"]) == len(kept["tool_calls"]) == 1
    unfinished = await store.runs.detail(still_open.id)
    assert unfinished is not None and unfinished["steps"] == [] and len(unfinished["actions"]) == 1
    audit = await query(db_url, "SELECT run_id FROM approvals ORDER BY run_id")
    assert sorted(row[0] for row in audit) == sorted([old.id, recent.id, still_open.id])

    assert await store.retention.purge() == dict.fromkeys(counts, 0)
    shorter = await store.retention.purge(operation_days=0, audit_days=0)
    assert shorter["runs"] == 1 and shorter["approvals"] == 3
