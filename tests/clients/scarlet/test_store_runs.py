"""Scarlet's runs against the real PostgreSQL: alerts joining runs, resolution, claims shared
by replicas, stale recovery, statuses and the run's full record."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest

from autodevops.clients.scarlet.store import OpsStore

from .store_helpers import (
    ALERT,
    fresh_database,  # noqa: F401 (a fixture)
    query,
    store_on_fresh_database,  # noqa: F401 (a fixture)
)


async def resolved_flag(store: OpsStore, run_id: int) -> bool:
    run = await store.runs.get(run_id)
    return bool(run and run.alert_resolved)


async def test_same_alert_joins_the_open_run_within_the_window_only(
    store: OpsStore, db_url: str
) -> None:
    run, created = await store.runs.submit("alert", "crash loop", fingerprint="fp1", alert=ALERT)
    assert created and run.status == "queued" and run.alert == ALERT and run.alert_count == 1

    repeat = dict(ALERT, startsAt="later")
    again, created = await store.runs.submit("alert", "crash loop", fingerprint="fp1", alert=repeat)
    assert not created and again.id == run.id and again.alert_count == 2
    detail = await store.runs.detail(run.id)
    assert detail is not None
    assert [(s["kind"], s["detail"]) for s in detail["steps"]] == [("alert_repeated", repeat)]

    other, created = await store.runs.submit("alert", "other", fingerprint="fp2", alert=ALERT)
    assert created and other.id != run.id
    manual_a, created_a = await store.runs.submit("manual", "same question")
    manual_b, created_b = await store.runs.submit("manual", "same question")
    assert created_a and created_b and manual_a.id != manual_b.id

    await query(
        db_url, "UPDATE runs SET created_at = now() - interval '31 minutes' WHERE id = %s", run.id
    )
    late, created = await store.runs.submit("alert", "crash loop", fingerprint="fp1", alert=ALERT)
    assert created and late.id != run.id
    narrow, created = await store.runs.submit(
        "alert", "crash loop", fingerprint="fp1", dedupe_window=timedelta(0)
    )
    assert created and narrow.id not in (run.id, late.id)


async def test_an_alert_resent_after_its_run_completed_joins_it_within_the_window(
    store: OpsStore,
) -> None:
    run, _ = await store.runs.submit("alert", "q", fingerprint="fp-done", alert=ALERT)
    await store.runs.finish(run.id, "completed", {"findings": []})
    again, created = await store.runs.submit("alert", "q", fingerprint="fp-done", alert=ALERT)
    assert not created and again.id == run.id and again.alert_count == 2
    assert again.status == "completed"
    sweep, created = await store.runs.submit(
        "schedule", "sweep", fingerprint="fp-done", join_completed=False
    )
    assert created and sweep.id != run.id  # a schedule's next sweep is a new run
    failed, _ = await store.runs.submit("alert", "q", fingerprint="fp-failed", alert=ALERT)
    await store.runs.finish(failed.id, "failed", {"error": "boom"})
    retried, created = await store.runs.submit("alert", "q", fingerprint="fp-failed", alert=ALERT)
    assert created and retried.id != failed.id  # a failed run never finished its work


async def test_simultaneous_copies_of_one_alert_start_one_run(store: OpsStore) -> None:
    results = await asyncio.gather(
        *(store.runs.submit("alert", "q", fingerprint="storm", alert=ALERT) for _ in range(12))
    )
    assert sum(created for _, created in results) == 1
    assert len({run.id for run, _ in results}) == 1
    final = await store.runs.get(results[0][0].id)
    assert final is not None and final.alert_count == 12


async def test_resolved_before_claim_closes_the_run(store: OpsStore) -> None:
    run, _ = await store.runs.submit("alert", "q", fingerprint="fp", alert=ALERT)
    resolved = {"status": "resolved", "labels": ALERT["labels"]}
    assert await store.runs.resolve_alert("fp", resolved) == [run.id]
    closed = await store.runs.get(run.id)
    assert closed is not None and closed.status == "closed"
    assert closed.reason == "alert resolved before the run started"
    assert closed.finished_at is not None
    assert await store.runs.claim("w1") is None
    assert await store.runs.resolve_alert("fp", resolved) == []


async def test_resolved_after_claim_flags_the_running_run(store: OpsStore) -> None:
    run, _ = await store.runs.submit("alert", "q", fingerprint="fp", alert=ALERT)
    claimed = await store.runs.claim("w1")
    assert claimed is not None and claimed.id == run.id
    assert not await resolved_flag(store, run.id)
    assert await store.runs.resolve_alert("fp", {"status": "resolved"}) == [run.id]
    running = await store.runs.get(run.id)
    assert running is not None and running.status == "running"
    assert await resolved_flag(store, run.id)
    detail = await store.runs.detail(run.id)
    assert detail is not None
    assert [s["kind"] for s in detail["steps"]] == ["alert_resolved"]
    assert detail["alert_resolved"] is True
    # The alert firing again is news: it does not vanish into the run about to close.
    refired, created = await store.runs.submit("alert", "q", fingerprint="fp", alert=ALERT)
    assert created and refired.id != run.id


async def test_claims_take_oldest_first_and_record_the_worker(store: OpsStore) -> None:
    first, _ = await store.runs.submit("manual", "first")
    second, _ = await store.runs.submit("schedule", "second")
    claimed = await store.runs.claim("worker-a")
    assert claimed is not None and claimed.id == first.id
    assert claimed.status == "running" and claimed.claimed_by == "worker-a"
    assert claimed.attempts == 1 and claimed.heartbeat_at is not None
    nxt = await store.runs.claim("worker-b")
    assert nxt is not None and nxt.id == second.id
    assert await store.runs.claim("worker-c") is None
    assert await store.runs.heartbeat(first.id, "worker-a")
    assert not await store.runs.heartbeat(first.id, "worker-b")


async def test_two_replicas_never_claim_the_same_run(store: OpsStore, db_url: str) -> None:
    other = await OpsStore.open(db_url)
    try:
        submitted = [(await store.runs.submit("manual", f"q{i}"))[0].id for i in range(40)]
        stores = (store, other)
        claims = await asyncio.gather(
            *(stores[i % 2].runs.claim(f"worker-{i % 2}-{i}") for i in range(60))
        )
        ids = [run.id for run in claims if run is not None]
        assert len(ids) == len(set(ids)) == 40
        assert sorted(ids) == sorted(submitted)
        assert claims.count(None) == 20
        rows = await query(db_url, "SELECT count(*) FROM runs WHERE attempts = 1")
        assert rows == [(40,)]
    finally:
        await other.close()


async def test_stale_runs_are_requeued_then_closed_after_max_attempts(
    store: OpsStore, db_url: str
) -> None:
    run, _ = await store.runs.submit("manual", "q")
    healthy, _ = await store.runs.submit("manual", "healthy")
    assert (await store.runs.claim("w1")) is not None
    assert (await store.runs.claim("w-healthy")) is not None
    backdate = "UPDATE runs SET heartbeat_at = now() - interval '10 minutes' WHERE id = %s"

    await query(db_url, backdate, run.id)
    assert await store.runs.recover_stale(timedelta(minutes=5), max_attempts=2) == [
        (run.id, "requeued")
    ]
    requeued = await store.runs.get(run.id)
    assert requeued is not None and requeued.status == "queued" and requeued.claimed_by is None
    assert not await store.runs.heartbeat(run.id, "w1")  # the old worker learns it lost the run

    again = await store.runs.claim("w2")
    assert again is not None and again.id == run.id and again.attempts == 2
    await query(db_url, backdate, run.id)
    assert await store.runs.recover_stale(timedelta(minutes=5), max_attempts=2) == [
        (run.id, "closed")
    ]
    closed = await store.runs.get(run.id)
    assert closed is not None and closed.status == "closed"
    assert closed.reason == "interrupted after 2 attempts; last worker w2"
    assert closed.finished_at is not None
    detail = await store.runs.detail(run.id)
    assert detail is not None
    assert [s["kind"] for s in detail["steps"]] == ["requeued", "interrupted"]

    untouched = await store.runs.get(healthy.id)
    assert untouched is not None and untouched.status == "running"
    assert await store.runs.recover_stale(timedelta(minutes=5)) == []


async def test_status_changes_and_listing(store: OpsStore) -> None:
    a, _ = await store.runs.submit("manual", "a")
    b, _ = await store.runs.submit("manual", "b")
    await store.runs.set_status(a.id, "waiting_approval", reason="restart needs approval")
    waiting = await store.runs.get(a.id)
    assert waiting is not None and waiting.status == "waiting_approval"
    assert waiting.reason == "restart needs approval" and waiting.finished_at is None
    await store.runs.finish(a.id, "waiting_approval", {"findings": ["crash loop"], "actions": []})
    reported = await store.runs.get(a.id)
    assert reported is not None and reported.status == "waiting_approval"
    assert reported.report == {"findings": ["crash loop"], "actions": []}
    assert reported.finished_at is None
    await store.runs.finish(a.id, "completed", {"findings": ["crash loop"]})
    done = await store.runs.get(a.id)
    assert done is not None and done.status == "completed" and done.finished_at is not None
    assert done.report == {"findings": ["crash loop"]}
    assert [run.id for run in await store.runs.newest()] == [b.id, a.id]
    assert [run.id for run in await store.runs.newest("completed")] == [a.id]
    assert [run.id for run in await store.runs.newest(limit=1)] == [b.id]
    assert await store.runs.get(999_999) is None
    with pytest.raises(ValueError, match="unknown run id 999999"):
        await store.runs.set_status(999_999, "running")
    with pytest.raises(ValueError, match="unknown run id 999999"):
        await store.runs.add_step(999_999, "analyzer", {})
    with pytest.raises(ValueError, match="'done'"):
        await store.runs.finish(b.id, "done", {})


async def test_run_detail_holds_everything_json_ready(store: OpsStore) -> None:
    run, _ = await store.runs.submit("alert", "why is web crashing?", fingerprint="f", alert=ALERT)
    await store.runs.claim("w1")
    await store.runs.add_step(run.id, "analyzer", {"finding": "CrashLoopBackOff", "pod": "web-1"})
    redacted = {"namespace": "shop", "token": "[redacted]"}
    await store.runs.record_tool_call(run.id, "k8s__get_logs", redacted, "ok", 12.5, 2048)
    action = await store.actions.propose(
        run.id, "k8s__restart", {"name": "web"}, "OOM", "approval", None
    )
    await store.actions.decide(action.id, True, "alice", "go")
    await store.runs.record_tool_call(
        run.id, "k8s__restart", {"name": "web"}, "ok", 80.0, 64, "alice"
    )
    await store.runs.finish(run.id, "completed", {"cause": "memory limit"})

    detail = await store.runs.detail(run.id)
    assert detail is not None
    json.dumps(detail)
    assert detail["id"] == run.id and detail["status"] == "completed"
    assert detail["alert"] == ALERT and detail["report"] == {"cause": "memory limit"}
    assert datetime.fromisoformat(detail["created_at"]).tzinfo is not None
    assert [s["kind"] for s in detail["steps"]] == ["analyzer"]
    calls = detail["tool_calls"]
    assert [(c["tool"], c["arguments"], c["outcome"]) for c in calls] == [
        ("k8s__get_logs", redacted, "ok"),
        ("k8s__restart", {"name": "web"}, "ok"),
    ]
    assert calls[0]["duration_ms"] == 12.5 and calls[0]["result_bytes"] == 2048
    assert calls[1]["approved_by"] == "alice"
    assert [(a["tool"], a["status"], a["why"]) for a in detail["actions"]] == [
        ("k8s__restart", "approved", "OOM")
    ]
    approval = detail["approvals"][0]
    assert (approval["decided_by"], approval["decision"], approval["reason"]) == (
        "alice",
        "approved",
        "go",
    )
    assert isinstance(approval["decided_at"], str)
    assert await store.runs.detail(999_999) is None


async def test_a_worker_claim_records_the_start_and_each_step_tells_if_the_alert_resolved(
    store: OpsStore,
) -> None:
    run, _ = await store.runs.submit("alert", "q", fingerprint="fp", alert=ALERT)
    claimed = await store.runs.claim("w1", record_start=True)
    assert claimed is not None and claimed.id == run.id and claimed.status == "running"
    assert claimed.attempts == 1 and not claimed.alert_resolved
    assert await store.runs.claim("w2", record_start=True) is None

    assert await store.runs.add_step(run.id, "analyzers", {"findings": []}) is False
    await store.runs.resolve_alert("fp", {"status": "resolved"})
    assert await store.runs.add_step(run.id, "model", {"used": False}) is True

    detail = await store.runs.detail(run.id)
    assert detail is not None
    assert [(s["kind"], s["detail"]) for s in detail["steps"]] == [
        ("started", {"worker": "w1", "attempt": 1}),
        ("analyzers", {"findings": []}),
        ("alert_resolved", {"status": "resolved"}),
        ("model", {"used": False}),
    ]


async def test_the_overview_counts_the_queue_and_the_last_hours_endings(
    store: OpsStore, db_url: str
) -> None:
    empty = await store.runs.overview()
    assert empty == {
        "queued": 0,
        "oldest_queued_seconds": 0.0,
        "finished_last_hour": {"completed": 0, "partial": 0, "failed": 0, "closed": 0},
    }
    first, _ = await store.runs.submit("manual", "why is shop slow?")
    await query(
        db_url, "UPDATE runs SET created_at = now() - interval '5 minutes' WHERE id = %s", first.id
    )
    await store.runs.submit("manual", "why is cart slow?")
    await store.runs.submit("manual", "why is web down?")
    claimed = await store.runs.claim("w1")
    assert claimed is not None and claimed.id == first.id
    await store.runs.finish(first.id, "failed", {"error": "model down"})
    overview = await store.runs.overview()
    assert overview["queued"] == 2
    assert 0 < overview["oldest_queued_seconds"] < 60
    assert overview["finished_last_hour"] == {
        "completed": 0,
        "partial": 0,
        "failed": 1,
        "closed": 0,
    }
