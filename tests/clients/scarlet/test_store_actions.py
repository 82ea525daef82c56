"""Scarlet's actions and approvals against the real PostgreSQL: policy decisions, a person's
decision once only, expiry, execution by one worker, and how their ends settle a run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from autodevops.clients.scarlet.store import Action, OpsStore
from autodevops.clients.scarlet.store.actions import UnknownAction

from .store_helpers import (
    fresh_database,  # noqa: F401 (a fixture)
    query,
    store_on_fresh_database,  # noqa: F401 (a fixture)
)


async def test_action_statuses_follow_the_policy_decision(store: OpsStore) -> None:
    run, _ = await store.runs.submit("manual", "q")
    args = {"namespace": "shop", "name": "web"}
    auto = await store.actions.propose(run.id, "k8s__restart", args, "crash loop", "auto", None)
    assert auto.status == "approved" and auto.decided_by == "policy" and auto.decided_at
    asked = await store.actions.propose(run.id, "k8s__scale", args, "load", "approval", None)
    assert asked.status == "waiting" and asked.decided_by is None and asked.decided_at is None
    denied = await store.actions.propose(run.id, "k8s__delete", args, "log said so", "deny", None)
    assert denied.status == "denied" and denied.decided_by == "policy"
    assert [a.id for a in await store.actions.pending()] == [asked.id]
    assert [a.id for a in await store.actions.pending(run.id)] == [asked.id]
    assert await store.actions.pending(run.id + 1) == []
    with pytest.raises(ValueError, match="'maybe'"):
        await store.actions.propose(run.id, "k8s__restart", args, "x", "maybe", None)


async def test_an_action_is_decided_once_only(store: OpsStore) -> None:
    run, _ = await store.runs.submit("manual", "q")
    action = await store.actions.propose(run.id, "k8s__restart", {}, "why", "approval", None)
    approved = await store.actions.decide(action.id, True, "alice", "looks right")
    assert approved.status == "approved" and approved.decided_by == "alice"
    assert approved.reason == "looks right" and approved.decided_at is not None
    with pytest.raises(ValueError) as refused:
        await store.actions.decide(action.id, False, "bob", "no")
    message = str(refused.value)
    assert "already approved by alice at" in message
    assert approved.decided_at.isoformat() in message
    with pytest.raises(UnknownAction, match="no action 424242"):
        await store.actions.decide(424242, True, "bob")
    denied = await store.actions.propose(run.id, "k8s__delete", {}, "why", "deny", None)
    with pytest.raises(ValueError, match="already denied by policy"):
        await store.actions.decide(denied.id, True, "mallory")

    rejected = await store.actions.propose(run.id, "k8s__scale", {}, "why", "approval", None)
    assert (await store.actions.decide(rejected.id, False, "carol", "not now")).status == "rejected"
    detail = await store.runs.detail(run.id)
    assert detail is not None
    assert [(a["action_id"], a["decision"], a["decided_by"]) for a in detail["approvals"]] == [
        (action.id, "approved", "alice"),
        (denied.id, "denied", "policy"),
        (rejected.id, "rejected", "carol"),
    ]


async def test_a_decision_naming_another_run_decides_nothing(store: OpsStore) -> None:
    run, _ = await store.runs.submit("manual", "q")
    other, _ = await store.runs.submit("manual", "another question")
    waiting = await store.actions.propose(run.id, "k8s__cordon", {}, "why", "approval", None)
    with pytest.raises(UnknownAction, match=f"no action {waiting.id} of run {other.id}"):
        await store.actions.decide(waiting.id, True, "bob", run_id=other.id)
    assert (await store.actions.decide(waiting.id, True, "bob", run_id=run.id)).status == "approved"


async def test_waiting_actions_expire(store: OpsStore) -> None:
    run, _ = await store.runs.submit("manual", "q")
    past = datetime.now(UTC) - timedelta(minutes=1)
    future = datetime.now(UTC) + timedelta(hours=1)
    stale = await store.actions.propose(run.id, "k8s__restart", {}, "why", "approval", past)
    late = await store.actions.propose(run.id, "k8s__scale", {}, "why", "approval", past)
    fresh = await store.actions.propose(run.id, "k8s__restart", {}, "why", "approval", future)
    assert [a.id for a in await store.actions.pending()] == [fresh.id]

    with pytest.raises(ValueError, match=f"action {late.id} expired at"):
        await store.actions.decide(late.id, True, "alice")
    expired = await store.actions.expire()
    assert [a.id for a in expired] == [stale.id]
    assert expired[0].status == "expired" and expired[0].decided_by == "expiry"
    assert await store.actions.expire() == []
    with pytest.raises(ValueError, match="already expired by expiry"):
        await store.actions.decide(stale.id, True, "alice")

    detail = await store.runs.detail(run.id)
    assert detail is not None
    audit = {(a["action_id"], a["decision"], a["decided_by"]) for a in detail["approvals"]}
    assert audit == {(late.id, "expired", "expiry"), (stale.id, "expired", "expiry")}
    assert (await store.actions.decide(fresh.id, True, "alice")).status == "approved"


async def test_an_approved_action_is_executed_by_one_worker(store: OpsStore, db_url: str) -> None:
    other = await OpsStore.open(db_url)
    try:
        run, _ = await store.runs.submit("manual", "q")
        approved = []
        for i in range(10):
            action = await store.actions.propose(
                run.id, "k8s__restart", {"i": i}, "w", "auto", None
            )
            approved.append(action.id)
        waiting = await store.actions.propose(run.id, "k8s__scale", {}, "why", "approval", None)
        stores = (store, other)
        claims = await asyncio.gather(
            *(stores[i % 2].actions.claim(f"worker-{i}") for i in range(16))
        )
        claimed = [action for action in claims if action is not None]
        assert sorted(a.id for a in claimed) == approved
        assert all(a.status == "executing" and a.executed_by for a in claimed)
        assert waiting.id not in {a.id for a in claimed}

        done, _ = await store.actions.finish(claimed[0].id, "ok", "deployment restarted")
        assert done.status == "executed" and done.result == "deployment restarted"
        assert done.finished_at is not None
        failed, _ = await store.actions.finish(claimed[1].id, "error", "forbidden")
        assert failed.status == "failed"
        with pytest.raises(ValueError, match=f"action {done.id} is executed, not executing"):
            await store.actions.finish(done.id, "ok", "again")
        with pytest.raises(ValueError, match="unknown action id 777777"):
            await store.actions.finish(777_777, "ok", "x")
        outcomes = await query(
            db_url,
            "SELECT action_id, outcome FROM approvals WHERE outcome IS NOT NULL ORDER BY action_id",
        )
        assert sorted(outcomes) == sorted([(done.id, "executed"), (failed.id, "failed")])
    finally:
        await other.close()


# -- how actions end a run ---------------------------------------------------------------

RESTART = "k8s__rollout_restart"
WEB = {"kind": "Deployment", "name": "web", "namespace": "shop"}


async def waiting_run(store: OpsStore, *decisions: str) -> tuple[int, list[Action]]:
    """A claimed run that proposed one write per decision and filed its report."""
    run, _ = await store.runs.submit("manual", "is web healthy?")
    await store.runs.claim("w1")
    actions = [
        await store.actions.propose(run.id, f"k8s__write_{i}", WEB, "why", decision, None)
        for i, decision in enumerate(decisions)
    ]
    filed = await store.actions.file_report(run.id, {"likely_cause": "crash loop"})
    assert filed.status == "waiting_approval"
    return run.id, actions


async def test_the_engine_proposes_each_write_once_per_run(store: OpsStore, db_url: str) -> None:
    run, _ = await store.runs.submit("manual", "q")
    other, _ = await store.runs.submit("manual", "q")
    first = await store.actions.propose(
        run.id, RESTART, WEB, "crash loop", "approval", None, once=True
    )
    reordered = dict(reversed(WEB.items()))
    again = await store.actions.propose(
        run.id, RESTART, reordered, "again", "auto", None, once=True
    )
    assert (again.id, again.status, again.why) == (first.id, "waiting", "crash loop")
    await store.actions.decide(first.id, False, "alice")
    decided = await store.actions.propose(
        run.id, RESTART, WEB, "again", "approval", None, once=True
    )
    assert (decided.id, decided.status) == (first.id, "rejected")

    api = dict(WEB, name="api")
    denied = await store.actions.propose(run.id, RESTART, api, "api too", "deny", None, once=True)
    assert denied.id != first.id and denied.status == "denied"
    elsewhere = await store.actions.propose(other.id, RESTART, WEB, "w", "auto", None, once=True)
    assert elsewhere.id not in (first.id, denied.id)
    with pytest.raises(ValueError, match="unknown run id 999999"):
        await store.actions.propose(999_999, RESTART, WEB, "w", "auto", None, once=True)

    detail = await store.runs.detail(run.id)
    assert detail is not None
    assert [(s["kind"], s["detail"]) for s in detail["steps"]] == [
        (
            "action_proposed",
            {"action": first.id, "tool": RESTART, "decision": "approval", "why": "crash loop"},
        ),
        (
            "action_proposed",
            {"action": denied.id, "tool": RESTART, "decision": "deny", "why": "api too"},
        ),
    ]

    # A model asking for the same write in parallel still gets one action.
    racing = await asyncio.gather(
        *(
            store.actions.propose(other.id, RESTART, api, "w", "approval", None, once=True)
            for _ in range(8)
        )
    )
    assert len({action.id for action in racing}) == 1
    rows = await query(db_url, "SELECT count(*) FROM actions WHERE run_id = %s", other.id)
    assert rows == [(2,)]


async def test_a_filed_report_lists_the_actions_and_they_decide_the_status(
    store: OpsStore,
) -> None:
    statuses = {}
    for decisions in ((), ("deny",), ("approval",), ("auto",), ("deny", "approval")):
        run, _ = await store.runs.submit("manual", "q")
        await store.runs.claim("w1")
        for i, decision in enumerate(decisions):
            await store.actions.propose(run.id, f"k8s__write_{i}", WEB, "why", decision, None)
        filed = await store.actions.file_report(run.id, {"likely_cause": "x"})
        assert filed.report is not None and filed.report["likely_cause"] == "x"
        assert [a["status"] for a in filed.report["actions"]] == [
            {"deny": "denied", "approval": "waiting", "auto": "approved"}[d] for d in decisions
        ]
        assert (filed.finished_at is not None) == (filed.status == "completed")
        stored = await store.runs.get(run.id)
        assert stored is not None and stored.report == filed.report
        statuses[decisions] = filed.status
    assert statuses == {
        (): "completed",
        ("deny",): "completed",
        ("approval",): "waiting_approval",
        ("auto",): "waiting_approval",
        ("deny", "approval"): "waiting_approval",
    }
    with pytest.raises(ValueError, match="unknown run id 999999"):
        await store.actions.file_report(999_999, {})


async def test_a_waiting_run_completes_when_its_last_action_ends(store: OpsStore) -> None:
    run_id, (asked, auto) = await waiting_run(store, "approval", "auto")
    assert await store.actions.settle(run_id) is None
    await store.actions.decide(asked.id, False, "alice", "not now")
    assert await store.actions.settle(run_id) is None, "the approved action has not run yet"

    claimed = await store.actions.claim("w2")
    assert claimed is not None and claimed.id == auto.id
    executed, completed = await store.actions.finish(auto.id, "ok", "restarted")
    assert executed.status == "executed"
    assert completed is not None and completed.status == "completed"
    assert completed.finished_at is not None and completed.report is not None
    assert completed.report["likely_cause"] == "crash loop"
    assert [(a["id"], a["status"], a["result"]) for a in completed.report["actions"]] == [
        (asked.id, "rejected", None),
        (auto.id, "executed", "restarted"),
    ]
    assert await store.actions.settle(run_id) is None, "completed once only"
    detail = await store.runs.detail(run_id)
    assert detail is not None
    assert [(s["kind"], s["detail"]) for s in detail["steps"]] == [
        (
            "action_executed",
            {"action": auto.id, "tool": auto.tool, "outcome": "ok", "approved_by": "policy"},
        )
    ]


async def test_only_one_of_many_settlers_completes_a_run(store: OpsStore) -> None:
    run_id, (asked,) = await waiting_run(store, "approval")
    await store.actions.decide(asked.id, False, "alice")
    settled = await asyncio.gather(*(store.actions.settle(run_id) for _ in range(6)))
    assert [run.id for run in settled if run is not None] == [run_id]


async def test_a_resolved_alert_refuses_the_writes_still_waiting(store: OpsStore) -> None:
    run_id, (asked, auto) = await waiting_run(store, "approval", "auto")
    reason = "the alert resolved before anyone approved it"
    assert await store.actions.refuse_waiting(run_id, reason) is None, "the auto one is pending"
    with pytest.raises(ValueError, match="already rejected by scarlet"):
        await store.actions.decide(asked.id, True, "alice")
    assert await store.actions.claim("w2") is not None
    _, completed = await store.actions.finish(auto.id, "error", "forbidden")
    assert completed is not None and completed.status == "completed"

    detail = await store.runs.detail(run_id)
    assert detail is not None
    assert [(a["status"], a["decided_by"], a["reason"]) for a in detail["actions"]] == [
        ("rejected", "scarlet", reason),
        ("failed", "policy", None),
    ]
    assert [(a["action_id"], a["decision"], a["decided_by"]) for a in detail["approvals"]] == [
        (auto.id, "approved", "policy"),
        (asked.id, "rejected", "scarlet"),
    ]
    assert await store.actions.refuse_waiting(run_id, reason) is None, "not waiting any more"

    alone, (only,) = await waiting_run(store, "approval")
    refused = await store.actions.refuse_waiting(alone, reason)
    assert refused is not None and refused.status == "completed"
    assert refused.report is not None
    assert [(a["id"], a["status"]) for a in refused.report["actions"]] == [(only.id, "rejected")]


async def test_closing_a_run_rejects_its_waiting_writes(store: OpsStore) -> None:
    run, _ = await store.runs.submit("manual", "q")
    await store.runs.claim("w1")
    asked = await store.actions.propose(run.id, RESTART, WEB, "why", "approval", None)
    auto = await store.actions.propose(run.id, "k8s__scale", WEB, "why", "auto", None)
    refusal = "the alert resolved and its run closed"
    closed = await store.actions.close_run(run.id, {"notes": []}, "alert resolved", refusal)
    assert (closed.status, closed.reason) == ("closed", "alert resolved")
    assert closed.finished_at is not None
    assert closed.report == {
        "notes": [],
        "actions": [
            dict(asked.reported(), status="rejected", decided_by="scarlet"),
            auto.reported(),
        ],
    }
    detail = await store.runs.detail(run.id)
    assert detail is not None
    assert [(a["decision"], a["decided_by"], a["reason"]) for a in detail["approvals"]] == [
        ("approved", "policy", ""),
        ("rejected", "scarlet", refusal),
    ]
    with pytest.raises(ValueError, match="unknown run id 999999"):
        await store.actions.close_run(999_999, {}, "alert resolved", refusal)


async def test_a_write_pending_in_another_run_is_not_proposed_again(store: OpsStore) -> None:
    first, _ = await store.runs.submit("manual", "q1")
    second, _ = await store.runs.submit("manual", "q2")
    waiting = await store.actions.propose(
        first.id, "k8s__restart", WEB, "crash", "approval", None, once=True
    )
    again = await store.actions.propose(
        second.id, "k8s__restart", WEB, "crash", "approval", None, once=True
    )
    assert (again.id, again.run_id) == (waiting.id, first.id)
    other = await store.actions.propose(
        second.id, "k8s__restart", {**WEB, "name": "api"}, "crash", "approval", None, once=True
    )
    assert other.run_id == second.id, "another object is another write"
    await store.actions.decide(waiting.id, False, "alice", "not now")
    later = await store.actions.propose(
        second.id, "k8s__restart", WEB, "crash", "approval", None, once=True
    )
    assert later.run_id == second.id and later.id != waiting.id, "nothing pending any more"


async def test_a_report_with_missing_evidence_ends_the_run_partial(store: OpsStore) -> None:
    run, _ = await store.runs.submit("manual", "q")
    await store.runs.claim("w1")
    missing = ["pods in shop unavailable: rate limit"]
    filed = await store.actions.file_report(run.id, {"likely_cause": "x", "missing": missing})
    assert filed.status == "partial" and filed.finished_at is not None

    run_id, (asked,) = await waiting_run(store, "approval")
    stored = await store.runs.get(run_id)
    assert stored is not None and stored.report is not None
    await store.actions.file_report(run_id, {**stored.report, "missing": missing})
    await store.actions.decide(asked.id, False, "alice", "no")
    settled = await store.actions.settle(run_id)
    assert settled is not None and settled.status == "partial"
