"""Scarlet's operations database against the real PostgreSQL, one fresh database per test."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from autodevops.clients.scarlet.migrations import MIGRATIONS
from autodevops.clients.scarlet.store import OpsStore, StoreUnavailable
from devstack.base import free_port
from devstack.postgres import PostgresHandle

ALERT = {"labels": {"alertname": "KubePodCrashLooping", "namespace": "shop"}, "status": "firing"}


@pytest.fixture
async def db_url(postgres: PostgresHandle) -> AsyncIterator[str]:
    """A DSN to a database created for this test alone, dropped afterwards."""
    name = f"scarlet_{secrets.token_hex(6)}"
    async with await psycopg.AsyncConnection.connect(postgres.url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_conninfo(postgres.url, dbname=name)
    async with await psycopg.AsyncConnection.connect(postgres.url, autocommit=True) as admin:
        await admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[OpsStore]:
    opened = await OpsStore.open(db_url)
    yield opened
    await opened.close()


async def query(
    dsn: str, statement: str | sql.SQL | sql.Composed, *params: Any
) -> list[tuple[Any, ...]]:
    """Direct SQL for checks and for backdating rows, outside the store."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(statement, params)
        return await cur.fetchall() if cur.description else []


# -- migrations ----------------------------------------------------------------------------


async def test_migrations_apply_once_even_when_two_replicas_start_together(db_url: str) -> None:
    first, second = await asyncio.gather(OpsStore.open(db_url), OpsStore.open(db_url))
    third = await OpsStore.open(db_url)
    try:
        rows = await query(db_url, "SELECT version FROM schema_migrations ORDER BY version")
        assert [row[0] for row in rows] == [migration.version for migration in MIGRATIONS]
        tables = await query(
            db_url,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "ORDER BY table_name",
        )
        assert [row[0] for row in tables] == [
            "actions",
            "approvals",
            "runs",
            "schema_migrations",
            "steps",
            "tool_calls",
        ]
        run, _ = await first.submit_run("manual", "is the shop healthy?")
        fetched = await third.get_run(run.id)
        assert fetched is not None and fetched.question == "is the shop healthy?"
    finally:
        for opened in (first, second, third):
            await opened.close()


# -- runs ----------------------------------------------------------------------------------


async def test_same_alert_joins_the_open_run_within_the_window_only(
    store: OpsStore, db_url: str
) -> None:
    run, created = await store.submit_run("alert", "crash loop", fingerprint="fp1", alert=ALERT)
    assert created and run.status == "queued" and run.alert == ALERT and run.alert_count == 1

    repeat = dict(ALERT, startsAt="later")
    again, created = await store.submit_run("alert", "crash loop", fingerprint="fp1", alert=repeat)
    assert not created and again.id == run.id and again.alert_count == 2
    detail = await store.run_detail(run.id)
    assert detail is not None
    assert [(s["kind"], s["detail"]) for s in detail["steps"]] == [("alert_repeated", repeat)]

    other, created = await store.submit_run("alert", "other", fingerprint="fp2", alert=ALERT)
    assert created and other.id != run.id
    manual_a, created_a = await store.submit_run("manual", "same question")
    manual_b, created_b = await store.submit_run("manual", "same question")
    assert created_a and created_b and manual_a.id != manual_b.id

    await query(
        db_url, "UPDATE runs SET created_at = now() - interval '31 minutes' WHERE id = %s", run.id
    )
    late, created = await store.submit_run("alert", "crash loop", fingerprint="fp1", alert=ALERT)
    assert created and late.id != run.id
    narrow, created = await store.submit_run(
        "alert", "crash loop", fingerprint="fp1", dedupe_window=timedelta(0)
    )
    assert created and narrow.id not in (run.id, late.id)


async def test_simultaneous_copies_of_one_alert_start_one_run(store: OpsStore) -> None:
    results = await asyncio.gather(
        *(store.submit_run("alert", "q", fingerprint="storm", alert=ALERT) for _ in range(12))
    )
    assert sum(created for _, created in results) == 1
    assert len({run.id for run, _ in results}) == 1
    final = await store.get_run(results[0][0].id)
    assert final is not None and final.alert_count == 12


async def test_resolved_before_claim_closes_the_run(store: OpsStore) -> None:
    run, _ = await store.submit_run("alert", "q", fingerprint="fp", alert=ALERT)
    resolved = {"status": "resolved", "labels": ALERT["labels"]}
    assert await store.resolve_alert("fp", resolved) == [run.id]
    closed = await store.get_run(run.id)
    assert closed is not None and closed.status == "closed"
    assert closed.reason == "alert resolved before the run started"
    assert closed.finished_at is not None
    assert await store.claim_run("w1") is None
    assert await store.resolve_alert("fp", resolved) == []


async def test_resolved_after_claim_flags_the_running_run(store: OpsStore) -> None:
    run, _ = await store.submit_run("alert", "q", fingerprint="fp", alert=ALERT)
    claimed = await store.claim_run("w1")
    assert claimed is not None and claimed.id == run.id
    assert not await store.resolved_flag(run.id)
    assert await store.resolve_alert("fp", {"status": "resolved"}) == [run.id]
    running = await store.get_run(run.id)
    assert running is not None and running.status == "running"
    assert await store.resolved_flag(run.id)
    detail = await store.run_detail(run.id)
    assert detail is not None
    assert [s["kind"] for s in detail["steps"]] == ["alert_resolved"]
    assert detail["alert_resolved"] is True
    # The alert firing again is news: it does not vanish into the run about to close.
    refired, created = await store.submit_run("alert", "q", fingerprint="fp", alert=ALERT)
    assert created and refired.id != run.id


async def test_claims_take_oldest_first_and_record_the_worker(store: OpsStore) -> None:
    first, _ = await store.submit_run("manual", "first")
    second, _ = await store.submit_run("schedule", "second")
    claimed = await store.claim_run("worker-a")
    assert claimed is not None and claimed.id == first.id
    assert claimed.status == "running" and claimed.claimed_by == "worker-a"
    assert claimed.attempts == 1 and claimed.heartbeat_at is not None
    nxt = await store.claim_run("worker-b")
    assert nxt is not None and nxt.id == second.id
    assert await store.claim_run("worker-c") is None
    assert await store.heartbeat(first.id, "worker-a")
    assert not await store.heartbeat(first.id, "worker-b")


async def test_two_replicas_never_claim_the_same_run(store: OpsStore, db_url: str) -> None:
    other = await OpsStore.open(db_url)
    try:
        submitted = [(await store.submit_run("manual", f"q{i}"))[0].id for i in range(40)]
        stores = (store, other)
        claims = await asyncio.gather(
            *(stores[i % 2].claim_run(f"worker-{i % 2}-{i}") for i in range(60))
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
    run, _ = await store.submit_run("manual", "q")
    healthy, _ = await store.submit_run("manual", "healthy")
    assert (await store.claim_run("w1")) is not None
    assert (await store.claim_run("w-healthy")) is not None
    backdate = "UPDATE runs SET heartbeat_at = now() - interval '10 minutes' WHERE id = %s"

    await query(db_url, backdate, run.id)
    assert await store.recover_stale(timedelta(minutes=5), max_attempts=2) == [(run.id, "requeued")]
    requeued = await store.get_run(run.id)
    assert requeued is not None and requeued.status == "queued" and requeued.claimed_by is None
    assert not await store.heartbeat(run.id, "w1")  # the old worker learns it lost the run

    again = await store.claim_run("w2")
    assert again is not None and again.id == run.id and again.attempts == 2
    await query(db_url, backdate, run.id)
    assert await store.recover_stale(timedelta(minutes=5), max_attempts=2) == [(run.id, "closed")]
    closed = await store.get_run(run.id)
    assert closed is not None and closed.status == "closed"
    assert closed.reason == "interrupted after 2 attempts; last worker w2"
    assert closed.finished_at is not None
    detail = await store.run_detail(run.id)
    assert detail is not None
    assert [s["kind"] for s in detail["steps"]] == ["requeued", "interrupted"]

    untouched = await store.get_run(healthy.id)
    assert untouched is not None and untouched.status == "running"
    assert await store.recover_stale(timedelta(minutes=5)) == []


async def test_status_changes_and_listing(store: OpsStore) -> None:
    a, _ = await store.submit_run("manual", "a")
    b, _ = await store.submit_run("manual", "b")
    await store.set_status(a.id, "waiting_approval", reason="restart needs approval")
    waiting = await store.get_run(a.id)
    assert waiting is not None and waiting.status == "waiting_approval"
    assert waiting.reason == "restart needs approval" and waiting.finished_at is None
    await store.finish_run(a.id, "waiting_approval", {"findings": ["crash loop"], "actions": []})
    reported = await store.get_run(a.id)
    assert reported is not None and reported.status == "waiting_approval"
    assert reported.report == {"findings": ["crash loop"], "actions": []}
    assert reported.finished_at is None
    await store.finish_run(a.id, "completed", {"findings": ["crash loop"]})
    done = await store.get_run(a.id)
    assert done is not None and done.status == "completed" and done.finished_at is not None
    assert done.report == {"findings": ["crash loop"]}
    assert [run.id for run in await store.list_runs()] == [b.id, a.id]
    assert [run.id for run in await store.list_runs("completed")] == [a.id]
    assert [run.id for run in await store.list_runs(limit=1)] == [b.id]
    assert await store.get_run(999_999) is None
    with pytest.raises(ValueError, match="unknown run id 999999"):
        await store.set_status(999_999, "running")
    with pytest.raises(ValueError, match="unknown run id 999999"):
        await store.add_step(999_999, "analyzer", {})
    with pytest.raises(ValueError, match="'done'"):
        await store.finish_run(b.id, "done", {})


# -- actions -------------------------------------------------------------------------------


async def test_action_statuses_follow_the_policy_decision(store: OpsStore) -> None:
    run, _ = await store.submit_run("manual", "q")
    args = {"namespace": "shop", "name": "web"}
    auto = await store.propose_action(run.id, "k8s__restart", args, "crash loop", "auto", None)
    assert auto.status == "approved" and auto.decided_by == "policy" and auto.decided_at
    asked = await store.propose_action(run.id, "k8s__scale", args, "load", "approval", None)
    assert asked.status == "waiting" and asked.decided_by is None and asked.decided_at is None
    denied = await store.propose_action(run.id, "k8s__delete", args, "log said so", "deny", None)
    assert denied.status == "denied" and denied.decided_by == "policy"
    assert [a.id for a in await store.pending_actions()] == [asked.id]
    assert [a.id for a in await store.pending_actions(run.id)] == [asked.id]
    assert await store.pending_actions(run.id + 1) == []
    with pytest.raises(ValueError, match="'maybe'"):
        await store.propose_action(run.id, "k8s__restart", args, "x", "maybe", None)


async def test_an_action_is_decided_once_only(store: OpsStore) -> None:
    run, _ = await store.submit_run("manual", "q")
    action = await store.propose_action(run.id, "k8s__restart", {}, "why", "approval", None)
    approved = await store.decide_action(action.id, True, "alice", "looks right")
    assert approved.status == "approved" and approved.decided_by == "alice"
    assert approved.reason == "looks right" and approved.decided_at is not None
    with pytest.raises(ValueError) as refused:
        await store.decide_action(action.id, False, "bob", "no")
    message = str(refused.value)
    assert "already approved by alice at" in message
    assert approved.decided_at.isoformat() in message
    with pytest.raises(ValueError, match="unknown action id 424242"):
        await store.decide_action(424242, True, "bob")
    denied = await store.propose_action(run.id, "k8s__delete", {}, "why", "deny", None)
    with pytest.raises(ValueError, match="already denied by policy"):
        await store.decide_action(denied.id, True, "mallory")

    rejected = await store.propose_action(run.id, "k8s__scale", {}, "why", "approval", None)
    assert (await store.decide_action(rejected.id, False, "carol", "not now")).status == "rejected"
    detail = await store.run_detail(run.id)
    assert detail is not None
    assert [(a["action_id"], a["decision"], a["decided_by"]) for a in detail["approvals"]] == [
        (action.id, "approved", "alice"),
        (denied.id, "denied", "policy"),
        (rejected.id, "rejected", "carol"),
    ]


async def test_waiting_actions_expire(store: OpsStore) -> None:
    run, _ = await store.submit_run("manual", "q")
    past = datetime.now(UTC) - timedelta(minutes=1)
    future = datetime.now(UTC) + timedelta(hours=1)
    stale = await store.propose_action(run.id, "k8s__restart", {}, "why", "approval", past)
    late = await store.propose_action(run.id, "k8s__scale", {}, "why", "approval", past)
    fresh = await store.propose_action(run.id, "k8s__restart", {}, "why", "approval", future)
    assert [a.id for a in await store.pending_actions()] == [fresh.id]

    with pytest.raises(ValueError, match=f"action {late.id} expired at"):
        await store.decide_action(late.id, True, "alice")
    expired = await store.expire_actions()
    assert [a.id for a in expired] == [stale.id]
    assert expired[0].status == "expired" and expired[0].decided_by == "expiry"
    assert await store.expire_actions() == []
    with pytest.raises(ValueError, match="already expired by expiry"):
        await store.decide_action(stale.id, True, "alice")

    detail = await store.run_detail(run.id)
    assert detail is not None
    audit = {(a["action_id"], a["decision"], a["decided_by"]) for a in detail["approvals"]}
    assert audit == {(late.id, "expired", "expiry"), (stale.id, "expired", "expiry")}
    assert (await store.decide_action(fresh.id, True, "alice")).status == "approved"


async def test_an_approved_action_is_executed_by_one_worker(store: OpsStore, db_url: str) -> None:
    other = await OpsStore.open(db_url)
    try:
        run, _ = await store.submit_run("manual", "q")
        approved = []
        for i in range(10):
            action = await store.propose_action(run.id, "k8s__restart", {"i": i}, "w", "auto", None)
            approved.append(action.id)
        waiting = await store.propose_action(run.id, "k8s__scale", {}, "why", "approval", None)
        stores = (store, other)
        claims = await asyncio.gather(
            *(stores[i % 2].claim_approved_action(f"worker-{i}") for i in range(16))
        )
        claimed = [action for action in claims if action is not None]
        assert sorted(a.id for a in claimed) == approved
        assert all(a.status == "executing" and a.executed_by for a in claimed)
        assert waiting.id not in {a.id for a in claimed}

        done = await store.finish_action(claimed[0].id, True, "deployment restarted")
        assert done.status == "executed" and done.result == "deployment restarted"
        assert done.finished_at is not None
        failed = await store.finish_action(claimed[1].id, False, "forbidden")
        assert failed.status == "failed"
        with pytest.raises(ValueError, match=f"action {done.id} is executed, not executing"):
            await store.finish_action(done.id, True, "again")
        with pytest.raises(ValueError, match="unknown action id 777777"):
            await store.finish_action(777_777, True, "x")
        outcomes = await query(
            db_url,
            "SELECT action_id, outcome FROM approvals WHERE outcome IS NOT NULL ORDER BY action_id",
        )
        assert sorted(outcomes) == sorted([(done.id, "executed"), (failed.id, "failed")])
    finally:
        await other.close()


# -- detail and retention ------------------------------------------------------------------


async def test_run_detail_holds_everything_json_ready(store: OpsStore) -> None:
    run, _ = await store.submit_run("alert", "why is web crashing?", fingerprint="f", alert=ALERT)
    await store.claim_run("w1")
    await store.add_step(run.id, "analyzer", {"finding": "CrashLoopBackOff", "pod": "web-1"})
    redacted = {"namespace": "shop", "token": "[redacted]"}
    await store.record_tool_call(run.id, "k8s__get_logs", redacted, "ok", 12.5, 2048)
    action = await store.propose_action(
        run.id, "k8s__restart", {"name": "web"}, "OOM", "approval", None
    )
    await store.decide_action(action.id, True, "alice", "go")
    await store.record_tool_call(run.id, "k8s__restart", {"name": "web"}, "ok", 80.0, 64, "alice")
    await store.finish_run(run.id, "completed", {"cause": "memory limit"})

    detail = await store.run_detail(run.id)
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
    assert await store.run_detail(999_999) is None


async def test_purge_keeps_audit_rows_longer_than_operation_rows(
    store: OpsStore, db_url: str
) -> None:
    old, _ = await store.submit_run("manual", "old")
    recent, _ = await store.submit_run("manual", "recent")
    ancient, _ = await store.submit_run("manual", "ancient")
    still_open, _ = await store.submit_run("manual", "open")
    for run in (old, recent, ancient, still_open):
        await store.add_step(run.id, "analyzer", {})
        await store.record_tool_call(run.id, "k8s__get", {}, "ok", 1.0, 10)
        action = await store.propose_action(run.id, "k8s__restart", {}, "w", "approval", None)
        await store.decide_action(action.id, True, "alice")
    for run in (old, recent, ancient):
        await store.finish_run(run.id, "completed", {})
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

    counts = await store.purge()
    assert counts == {"steps": 3, "tool_calls": 3, "actions": 2, "runs": 2, "approvals": 1}
    assert await store.get_run(old.id) is None and await store.get_run(ancient.id) is None
    kept = await store.run_detail(recent.id)
    assert kept is not None and len(kept["steps"]) == len(kept["tool_calls"]) == 1
    unfinished = await store.run_detail(still_open.id)
    assert unfinished is not None and unfinished["steps"] == [] and len(unfinished["actions"]) == 1
    audit = await query(db_url, "SELECT run_id FROM approvals ORDER BY run_id")
    assert sorted(row[0] for row in audit) == sorted([old.id, recent.id, still_open.id])

    assert await store.purge() == dict.fromkeys(counts, 0)
    shorter = await store.purge(operation_days=0, audit_days=0)
    assert shorter["runs"] == 1 and shorter["approvals"] == 3


# -- PostgreSQL unreachable ----------------------------------------------------------------


async def test_unreachable_postgres_is_named_without_the_password() -> None:
    port = free_port()
    dsn = f"postgresql://scarlet:s3cret-pw@127.0.0.1:{port}/ops"
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        await OpsStore.open(dsn, timeout=1.0)
    assert time.monotonic() - started < 1.5
    message = str(raised.value)
    assert f"127.0.0.1:{port}" in message
    assert "s3cret-pw" not in message
    assert "running" in message and "reachable" in message


class Relay:
    """A TCP relay in front of PostgreSQL that can hold every byte (a hung server or a
    partition) or cut every connection and close its port (a server that went down)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.transport.abort()


async def until_available(store: OpsStore, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            await store.ping()
            return
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_a_silent_or_stopped_server_fails_fast_and_the_store_recovers(
    postgres: PostgresHandle, db_url: str
) -> None:
    relay = Relay(postgres.port)
    await relay.start()
    dsn = make_conninfo(db_url, host="127.0.0.1", port=str(relay.port), password="pw-never-shown")
    store = await OpsStore.open(dsn, timeout=1.0)
    try:
        run, _ = await store.submit_run("manual", "q")

        relay.flowing.clear()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as silent:
            async with asyncio.timeout(5):  # a hang fails the test instead of stalling it
                await store.claim_run("w1")
        assert time.monotonic() - started < 1.5
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            async with asyncio.timeout(5):
                await OpsStore.open(dsn, timeout=1.0)
        assert time.monotonic() - started < 1.5
        assert f"127.0.0.1:{relay.port}" in str(silent.value)
        assert "pw-never-shown" not in str(silent.value)
        relay.flowing.set()
        await until_available(store, 15)

        await relay.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as down:
            async with asyncio.timeout(5):
                await store.get_run(run.id)
        assert time.monotonic() - started < 1.5
        assert f"127.0.0.1:{relay.port}" in str(down.value)
        assert "pw-never-shown" not in str(down.value)

        await relay.start()
        await until_available(store, 15)
        fetched = await store.get_run(run.id)
        assert fetched is not None and fetched.question == "q"
    finally:
        await store.close()
        await relay.stop()
