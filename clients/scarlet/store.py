"""Scarlet's operations database on PostgreSQL: runs, steps, tool calls, actions and approvals.

Replicas share one database: runs and approved actions are claimed with
``FOR UPDATE SKIP LOCKED``, so no two workers take the same one, and a run whose worker stopped
heartbeating is requeued or closed with the reason, never lost. Every call is bounded by the
store's timeout: an unreachable or silent server surfaces as `StoreUnavailable`, not a hang.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .migrations import MIGRATIONS

T = TypeVar("T")
Conn = AsyncConnection[DictRow]

RUN_KINDS = frozenset({"alert", "manual", "schedule"})
OPEN_STATUSES = ("queued", "running", "waiting_approval")
FINAL_STATUSES = ("completed", "failed", "closed")
RUN_STATUSES = frozenset(OPEN_STATUSES + FINAL_STATUSES)
DECISIONS = {"auto": "approved", "approval": "waiting", "deny": "denied"}

# Advisory lock keys (classid, objid): one for migrations, one space for alert fingerprints.
_LOCK_CLASS = 0x5CA7
_MIGRATION_LOCK = 0
_FINGERPRINT_LOCK_CLASS = 0x5CA8

RESOLVED_REASON = "alert resolved before the run started"


class StoreUnavailable(Exception):
    """PostgreSQL cannot be reached or does not answer in time; the message says where and
    what to check, never the password."""


@dataclass
class Run:
    id: int
    kind: str
    status: str
    question: str
    fingerprint: str | None
    alert: dict[str, Any] | None
    report: dict[str, Any] | None
    reason: str | None
    attempts: int
    claimed_by: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    alert_count: int
    heartbeat_at: datetime | None = None


@dataclass
class Action:
    id: int
    run_id: int
    tool: str
    arguments: dict[str, Any]
    why: str
    decision: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    result: str | None
    expires_at: datetime | None
    created_at: datetime
    executed_by: str | None = None
    finished_at: datetime | None = None


_RUN_FIELDS = tuple(f.name for f in fields(Run))
_ACTION_FIELDS = tuple(f.name for f in fields(Action))


def _run(row: DictRow) -> Run:
    return Run(**{name: row[name] for name in _RUN_FIELDS})


def _action(row: DictRow) -> Action:
    return Action(**{name: row[name] for name in _ACTION_FIELDS})


def _json_ready(value: Any) -> Any:
    """Rows as an API can send them: datetimes become ISO 8601 strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    return value


class OpsStore:
    """The operations database behind a connection pool; safe to share between tasks."""

    def __init__(self, pool: AsyncConnectionPool[Conn], dsn: str, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout
        self._where, self._password = _describe(dsn)
        # Calls abandoned on timeout finish their cleanup in the background; kept referenced.
        self._abandoned: set[asyncio.Task[Any]] = set()

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        max_size: int = 5,
        timeout: float = 5.0,  # noqa: ASYNC109 - it bounds every later call too, not just this one
    ) -> OpsStore:
        """Connects and applies missing migrations before any query runs."""
        where, password = _describe(dsn)
        try:
            async with asyncio.timeout(timeout):
                async with await psycopg.AsyncConnection.connect(
                    dsn, **_connect_options(timeout)
                ) as conn:
                    await _migrate(conn)
        except (psycopg.OperationalError, TimeoutError) as exc:
            raise _unavailable(where, password, exc, timeout) from exc
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            dsn,
            connection_class=AsyncConnection[DictRow],
            kwargs={"row_factory": dict_row, **_connect_options(timeout)},
            min_size=1,
            max_size=max_size,
            timeout=timeout,
            check=AsyncConnectionPool.check_connection,
            open=False,
        )
        await pool.open(wait=False)
        return cls(pool, dsn, timeout)

    async def close(self) -> None:
        """Ends abandoned calls too, so none outlives the store."""
        abandoned = list(self._abandoned)
        for task in abandoned:
            task.cancel()
        if abandoned:
            await asyncio.wait(abandoned, timeout=self._timeout)
        await self._pool.close(timeout=self._timeout)

    async def ping(self) -> None:
        async def work(conn: Conn) -> None:
            await conn.execute("SELECT 1")

        await self._call(work)

    # -- runs ------------------------------------------------------------------------------

    async def submit_run(
        self,
        kind: str,
        question: str,
        *,
        fingerprint: str | None = None,
        alert: dict[str, Any] | None = None,
        dedupe_window: timedelta = timedelta(minutes=30),
    ) -> tuple[Run, bool]:
        """A new queued run, or the open run the same alert already started (``False``).

        A run flagged as resolved does not absorb a new firing: that alert is back and needs
        its own run.
        """
        if kind not in RUN_KINDS:
            raise ValueError(f"unknown run kind {kind!r}; expected one of {sorted(RUN_KINDS)}")

        async def work(conn: Conn) -> tuple[Run, bool]:
            async with conn.transaction():
                if fingerprint is not None:
                    # Serialises submissions of one fingerprint so two replicas taking the same
                    # webhook cannot both start a run.
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                        (_FINGERPRINT_LOCK_CLASS, fingerprint),
                    )
                    cur = await conn.execute(
                        """
                        UPDATE runs SET alert_count = alert_count + 1, updated_at = now()
                        WHERE id = (
                            SELECT id FROM runs
                            WHERE fingerprint = %s AND status = ANY(%s) AND NOT alert_resolved
                              AND created_at >= now() - %s
                            ORDER BY created_at DESC, id DESC LIMIT 1
                        )
                        RETURNING *
                        """,
                        (fingerprint, list(OPEN_STATUSES), dedupe_window),
                    )
                    row = await cur.fetchone()
                    if row is not None:
                        await _insert_step(conn, row["id"], "alert_repeated", alert or {})
                        return _run(row), False
                cur = await conn.execute(
                    """
                    INSERT INTO runs (kind, status, question, fingerprint, alert)
                    VALUES (%s, 'queued', %s, %s, %s) RETURNING *
                    """,
                    (kind, question, fingerprint, _jsonb(alert)),
                )
                return _run(await _one(cur)), True

        return await self._call(work)

    async def resolve_alert(self, fingerprint: str, payload: dict[str, Any]) -> list[int]:
        """Closes queued runs of the alert and flags running ones; returns the affected ids."""

        async def work(conn: Conn) -> list[int]:
            async with conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                    (_FINGERPRINT_LOCK_CLASS, fingerprint),
                )
                cur = await conn.execute(
                    """
                    UPDATE runs SET
                        status = CASE WHEN status = 'queued' THEN 'closed' ELSE status END,
                        reason = CASE WHEN status = 'queued' THEN %s ELSE reason END,
                        finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END,
                        alert_resolved = true,
                        updated_at = now()
                    WHERE fingerprint = %s AND status = ANY(%s)
                    RETURNING id
                    """,
                    (RESOLVED_REASON, fingerprint, list(OPEN_STATUSES)),
                )
                ids = sorted(row["id"] for row in await cur.fetchall())
                for run_id in ids:
                    await _insert_step(conn, run_id, "alert_resolved", payload)
                return ids

        return await self._call(work)

    async def claim_run(self, worker: str) -> Run | None:
        """The oldest queued run, now running for ``worker``; replicas never get the same one."""

        async def work(conn: Conn) -> Run | None:
            cur = await conn.execute(
                """
                UPDATE runs SET status = 'running', claimed_by = %s, attempts = attempts + 1,
                    heartbeat_at = now(), updated_at = now()
                WHERE id = (
                    SELECT id FROM runs WHERE status = 'queued'
                    ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
                )
                AND status = 'queued'
                RETURNING *
                """,
                (worker,),
            )
            row = await cur.fetchone()
            return None if row is None else _run(row)

        return await self._call(work)

    async def heartbeat(self, run_id: int, worker: str) -> bool:
        """Keeps the claim alive; ``False`` when the run is no longer this worker's (recovered
        and taken by another, or finished), so the worker should stop working on it."""

        async def work(conn: Conn) -> bool:
            cur = await conn.execute(
                """
                UPDATE runs SET heartbeat_at = now()
                WHERE id = %s AND claimed_by = %s AND status IN ('running', 'waiting_approval')
                """,
                (run_id, worker),
            )
            return cur.rowcount == 1

        return await self._call(work)

    async def recover_stale(
        self, stale_after: timedelta, max_attempts: int = 3
    ) -> list[tuple[int, str]]:
        """Running runs whose worker went silent: requeued, or closed after ``max_attempts``."""

        async def work(conn: Conn) -> list[tuple[int, str]]:
            async with conn.transaction():
                cur = await conn.execute(
                    """
                    SELECT id, attempts, claimed_by, heartbeat_at FROM runs
                    WHERE status = 'running'
                      AND coalesce(heartbeat_at, updated_at) < now() - %s
                    ORDER BY id FOR UPDATE SKIP LOCKED
                    """,
                    (stale_after,),
                )
                outcome: list[tuple[int, str]] = []
                for row in await cur.fetchall():
                    detail = {
                        "worker": row["claimed_by"],
                        "attempts": row["attempts"],
                        "last_heartbeat": _json_ready(row["heartbeat_at"]),
                    }
                    if row["attempts"] < max_attempts:
                        await conn.execute(
                            """
                            UPDATE runs SET status = 'queued', claimed_by = NULL,
                                heartbeat_at = NULL, updated_at = now()
                            WHERE id = %s
                            """,
                            (row["id"],),
                        )
                        await _insert_step(conn, row["id"], "requeued", detail)
                        outcome.append((row["id"], "requeued"))
                    else:
                        tries = _attempts(row["attempts"])
                        reason = f"interrupted after {tries}; last worker {row['claimed_by']}"
                        await conn.execute(
                            """
                            UPDATE runs SET status = 'closed', reason = %s, finished_at = now(),
                                updated_at = now()
                            WHERE id = %s
                            """,
                            (reason, row["id"]),
                        )
                        await _insert_step(conn, row["id"], "interrupted", detail)
                        outcome.append((row["id"], "closed"))
                return outcome

        return await self._call(work)

    async def resolved_flag(self, run_id: int) -> bool:
        """Whether the run's alert resolved while it ran: the engine closes it after its step."""

        async def work(conn: Conn) -> bool:
            cur = await conn.execute("SELECT alert_resolved FROM runs WHERE id = %s", (run_id,))
            row = await cur.fetchone()
            return bool(row and row["alert_resolved"])

        return await self._call(work)

    async def add_step(self, run_id: int, kind: str, detail: dict[str, Any]) -> None:
        async def work(conn: Conn) -> None:
            await _insert_step(conn, run_id, kind, detail)

        await self._call(work)

    async def steps_after(self, run_id: int, after_id: int = 0) -> list[dict[str, Any]]:
        """A run's steps newer than `after_id`, oldest first, JSON-ready: what a live view
        has not shown yet."""

        async def work(conn: Conn) -> list[dict[str, Any]]:
            cur = await conn.execute(
                "SELECT * FROM steps WHERE run_id = %s AND id > %s ORDER BY id",
                (run_id, after_id),
            )
            return [dict(_json_ready(dict(row))) for row in await cur.fetchall()]

        return await self._call(work)

    async def record_tool_call(
        self,
        run_id: int,
        tool: str,
        arguments: dict[str, Any],
        outcome: str,
        duration_ms: float,
        result_bytes: int,
        approved_by: str | None = None,
    ) -> None:
        """Stores the arguments as given: the caller redacts them first."""

        async def work(conn: Conn) -> None:
            await _checked_insert(
                conn,
                run_id,
                """
                INSERT INTO tool_calls
                    (run_id, tool, arguments, outcome, duration_ms, result_bytes, approved_by)
                VALUES (%s, %s, %s, %s, %s, %s, %s)
                """,
                (run_id, tool, Jsonb(arguments), outcome, duration_ms, result_bytes, approved_by),
            )

        await self._call(work)

    async def set_status(self, run_id: int, status: str, *, reason: str | None = None) -> None:
        """Moves a run to ``status``; a final status also stamps ``finished_at``. A ``reason`` of
        None keeps the one already recorded."""
        _check_status(status, RUN_STATUSES)

        async def work(conn: Conn) -> None:
            cur = await conn.execute(
                """
                UPDATE runs SET status = %s, reason = coalesce(%s, reason), updated_at = now(),
                    finished_at = CASE WHEN %s THEN now() END
                WHERE id = %s
                """,
                (status, reason, status in FINAL_STATUSES, run_id),
            )
            if cur.rowcount == 0:
                raise ValueError(f"unknown run id {run_id}")

        await self._call(work)

    async def finish_run(
        self, run_id: int, status: str, report: dict[str, Any], reason: str | None = None
    ) -> None:
        """Stores the report with the run's new status. ``waiting_approval`` is allowed: the
        report is written while its proposed actions still wait, and rewritten when they end."""
        _check_status(status, RUN_STATUSES)

        async def work(conn: Conn) -> None:
            cur = await conn.execute(
                """
                UPDATE runs SET status = %s, report = %s, reason = coalesce(%s, reason),
                    finished_at = CASE WHEN %s THEN now() END, updated_at = now()
                WHERE id = %s
                """,
                (status, Jsonb(report), reason, status in FINAL_STATUSES, run_id),
            )
            if cur.rowcount == 0:
                raise ValueError(f"unknown run id {run_id}")

        await self._call(work)

    async def get_run(self, run_id: int) -> Run | None:
        async def work(conn: Conn) -> Run | None:
            cur = await conn.execute("SELECT * FROM runs WHERE id = %s", (run_id,))
            row = await cur.fetchone()
            return None if row is None else _run(row)

        return await self._call(work)

    async def run_detail(self, run_id: int) -> dict[str, Any] | None:
        """The run's fields plus ``steps``, ``tool_calls``, ``actions`` and ``approvals`` (each
        oldest first), ready for ``json.dumps``."""

        async def work(conn: Conn) -> dict[str, Any] | None:
            async with conn.transaction():  # one snapshot for all five reads
                cur = await conn.execute("SELECT * FROM runs WHERE id = %s", (run_id,))
                row = await cur.fetchone()
                if row is None:
                    return None
                detail: dict[str, Any] = asdict(_run(row))
                detail["alert_resolved"] = row["alert_resolved"]
                for table in ("steps", "tool_calls", "actions", "approvals"):
                    query = sql.SQL("SELECT * FROM {} WHERE run_id = %s ORDER BY id")
                    cur = await conn.execute(query.format(sql.Identifier(table)), (run_id,))
                    detail[table] = [dict(item) for item in await cur.fetchall()]
                return dict(_json_ready(detail))

        return await self._call(work)

    async def list_runs(self, status: str | None = None, limit: int = 50) -> list[Run]:
        """Newest first."""
        if status is not None:
            _check_status(status, RUN_STATUSES)

        async def work(conn: Conn) -> list[Run]:
            cur = await conn.execute(
                """
                SELECT * FROM runs WHERE %s::text IS NULL OR status = %s
                ORDER BY created_at DESC, id DESC LIMIT %s
                """,
                (status, status, limit),
            )
            return [_run(row) for row in await cur.fetchall()]

        return await self._call(work)

    # -- actions and approvals -------------------------------------------------------------

    async def propose_action(
        self,
        run_id: int,
        tool: str,
        arguments: dict[str, Any],
        why: str,
        decision: str,
        expires_at: datetime | None,
    ) -> Action:
        """Records a proposed write with the policy's decision. ``auto`` and ``deny`` are
        decided by ``policy`` at once, and that decision enters the audit trail too."""
        if decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r}; expected one of {sorted(DECISIONS)}")
        status = DECISIONS[decision]
        by_policy = decision != "approval"

        async def work(conn: Conn) -> Action:
            async with conn.transaction():
                cur = await _checked_insert(
                    conn,
                    run_id,
                    """
                    INSERT INTO actions (run_id, tool, arguments, why, decision, status,
                        decided_by, decided_at, expires_at)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END, %s)
                    RETURNING *
                    """,
                    (
                        run_id,
                        tool,
                        Jsonb(arguments),
                        why,
                        decision,
                        status,
                        "policy" if by_policy else None,
                        by_policy,
                        expires_at,
                    ),
                )
                action = _action(await _one(cur))
                if by_policy:
                    await _insert_approval(conn, action, status, "policy", "")
                return action

        return await self._call(work)

    async def decide_action(
        self, action_id: int, approved: bool, by: str, reason: str = ""
    ) -> Action:
        """A person's decision on a waiting action; each action is decided once only.

        An action found past its expiry is marked expired (as `expire_actions` would) and the
        decision refused.
        """

        async def work(conn: Conn) -> tuple[Action | None, str]:
            async with conn.transaction():
                cur = await conn.execute(
                    "SELECT *, expires_at <= now() AS past_expiry FROM actions "
                    "WHERE id = %s FOR UPDATE",
                    (action_id,),
                )
                row = await cur.fetchone()
                if row is None:
                    return None, f"unknown action id {action_id}"
                if row["status"] != "waiting":
                    return None, (
                        f"action {action_id} was already {row['status']} by "
                        f"{row['decided_by']} at {_iso(row['decided_at'])}"
                    )
                if row["past_expiry"]:
                    await _expire(conn, action_id)
                    return None, (
                        f"action {action_id} expired at {_iso(row['expires_at'])}; "
                        "propose it again if it is still needed"
                    )
                status = "approved" if approved else "rejected"
                cur = await conn.execute(
                    """
                    UPDATE actions SET status = %s, decided_by = %s, decided_at = now(),
                        reason = %s
                    WHERE id = %s RETURNING *
                    """,
                    (status, by, reason, action_id),
                )
                action = _action(await _one(cur))
                await _insert_approval(conn, action, status, by, reason)
                return action, ""

        action, refusal = await self._call(work)
        if action is None:
            raise ValueError(refusal)
        return action

    async def expire_actions(self) -> list[Action]:
        """Waiting actions past their expiry become ``expired`` (decided by ``expiry``)."""

        async def work(conn: Conn) -> list[Action]:
            async with conn.transaction():
                return await _expire(conn, None)

        return await self._call(work)

    async def claim_approved_action(self, worker: str) -> Action | None:
        """The oldest approved action, now executing for ``worker``; no other worker gets it."""

        async def work(conn: Conn) -> Action | None:
            cur = await conn.execute(
                """
                UPDATE actions SET status = 'executing', executed_by = %s
                WHERE id = (
                    SELECT id FROM actions WHERE status = 'approved'
                    ORDER BY decided_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
                )
                AND status = 'approved'
                RETURNING *
                """,
                (worker,),
            )
            row = await cur.fetchone()
            return None if row is None else _action(row)

        return await self._call(work)

    async def finish_action(self, action_id: int, ok: bool, result: str) -> Action:
        """Records the execution's outcome, on the action and on its audit row."""
        status = "executed" if ok else "failed"

        async def work(conn: Conn) -> Action | None:
            async with conn.transaction():
                cur = await conn.execute(
                    """
                    UPDATE actions SET status = %s, result = %s, finished_at = now()
                    WHERE id = %s AND status = 'executing' RETURNING *
                    """,
                    (status, result, action_id),
                )
                row = await cur.fetchone()
                if row is None:
                    return None
                await conn.execute(
                    """
                    UPDATE approvals SET outcome = %s, outcome_at = now()
                    WHERE action_id = %s AND decision = 'approved'
                    """,
                    (status, action_id),
                )
                return _action(row)

        action = await self._call(work)
        if action is None:
            current = await self._action_status(action_id)
            if current is None:
                raise ValueError(f"unknown action id {action_id}")
            raise ValueError(f"action {action_id} is {current}, not executing")
        return action

    async def run_actions(self, run_id: int) -> list[Action]:
        """Every action of one run, oldest first."""

        async def work(conn: Conn) -> list[Action]:
            cur = await conn.execute(
                "SELECT * FROM actions WHERE run_id = %s ORDER BY created_at, id", (run_id,)
            )
            return [_action(row) for row in await cur.fetchall()]

        return await self._call(work)

    async def pending_actions(self, run_id: int | None = None) -> list[Action]:
        """Actions waiting for a person, oldest first; ones already past expiry are left out."""

        async def work(conn: Conn) -> list[Action]:
            cur = await conn.execute(
                """
                SELECT * FROM actions
                WHERE status = 'waiting' AND (expires_at IS NULL OR expires_at > now())
                  AND (%s::bigint IS NULL OR run_id = %s)
                ORDER BY created_at, id
                """,
                (run_id, run_id),
            )
            return [_action(row) for row in await cur.fetchall()]

        return await self._call(work)

    async def purge(self, operation_days: int = 90, audit_days: int = 730) -> dict[str, int]:
        """Retention: operation rows (steps, tool calls, finished runs with their actions) after
        ``operation_days``; audit rows (approvals) after ``audit_days``. Returns rows deleted
        per table."""

        async def work(conn: Conn) -> dict[str, int]:
            operation = timedelta(days=operation_days)
            old_runs = (
                "SELECT id FROM runs WHERE status = ANY(%(final)s) "
                "AND created_at < now() - %(operation)s"
            )
            params = {
                "final": list(FINAL_STATUSES),
                "operation": operation,
                "audit": timedelta(days=audit_days),
            }
            statements: tuple[tuple[str, LiteralString], ...] = (
                (
                    "steps",
                    "DELETE FROM steps WHERE created_at < now() - %(operation)s "
                    "OR run_id IN (" + old_runs + ")",
                ),
                (
                    "tool_calls",
                    "DELETE FROM tool_calls WHERE created_at < now() - %(operation)s "
                    "OR run_id IN (" + old_runs + ")",
                ),
                ("actions", "DELETE FROM actions WHERE run_id IN (" + old_runs + ")"),
                ("runs", "DELETE FROM runs WHERE id IN (" + old_runs + ")"),
                ("approvals", "DELETE FROM approvals WHERE decided_at < now() - %(audit)s"),
            )
            counts: dict[str, int] = {}
            async with conn.transaction():
                for table, statement in statements:
                    cur = await conn.execute(statement, params)
                    counts[table] = cur.rowcount
            return counts

        return await self._call(work)

    # -- plumbing --------------------------------------------------------------------------

    async def _action_status(self, action_id: int) -> str | None:
        async def work(conn: Conn) -> str | None:
            cur = await conn.execute("SELECT status FROM actions WHERE id = %s", (action_id,))
            row = await cur.fetchone()
            return None if row is None else str(row["status"])

        return await self._call(work)

    async def _call(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Runs ``work`` on a pooled connection within the timeout, or raises StoreUnavailable.

        On timeout the call is abandoned rather than awaited: psycopg's own cancellation of a
        query on a silent server can take longer than the caller may wait.
        """
        task = asyncio.ensure_future(self._on_connection(work))
        try:
            done, _ = await asyncio.wait({task}, timeout=self._timeout)
        except asyncio.CancelledError:
            self._abandon(task)
            raise
        if not done:
            self._abandon(task)
            raise _unavailable(self._where, self._password, TimeoutError(), self._timeout)
        return task.result()

    def _abandon(self, task: asyncio.Task[T]) -> None:
        """Cancels a call nobody waits for any more, keeping it referenced until it ends."""
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so an abandoned call's error is not reported as lost

    async def _on_connection(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        try:
            async with self._pool.connection() as conn:
                return await work(conn)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unavailable(self._where, self._password, exc, self._timeout) from exc


def _describe(dsn: str) -> tuple[str, str | None]:
    """``host:port`` for messages, and the password so it can be scrubbed from them."""
    params = conninfo_to_dict(dsn)
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST", "localhost")
    port = params.get("port") or os.environ.get("PGPORT", "5432")
    password = params.get("password")
    return f"{host}:{port}", str(password) if password else None


def _unavailable(
    where: str, password: str | None, cause: BaseException, timeout: float
) -> StoreUnavailable:
    if isinstance(cause, PoolTimeout):
        detail = f"no connection could be made within {timeout:g} s"
    elif isinstance(cause, TimeoutError):
        detail = f"no answer within {timeout:g} s"
    else:
        detail = " ".join(str(cause).split()) or type(cause).__name__
    if password:
        detail = detail.replace(password, "***")
    return StoreUnavailable(
        f"PostgreSQL at {where} is unavailable: {detail} (check that the server is running and "
        "reachable from here: host, port, network policy; and that the DSN's user, password and "
        "database are right)"
    )


def _connect_options(timeout: float) -> dict[str, Any]:
    """libpq options that make a dead peer fail fast instead of hanging a connection."""
    return {
        "connect_timeout": max(1, round(timeout)),
        "keepalives": 1,
        "keepalives_idle": max(1, round(timeout)),
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": max(1000, round(timeout * 1000)),
        "application_name": "scarlet",
    }


async def _migrate(conn: Conn) -> None:
    """Applies each missing migration once, in its own transaction; the advisory lock makes a
    replica starting at the same moment wait, then find the work done."""
    for migration in MIGRATIONS:
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, _MIGRATION_LOCK)
            )
            await conn.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
            cur = await conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
            )
            if await cur.fetchone() is not None:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )


async def _insert_step(conn: Conn, run_id: int, kind: str, detail: dict[str, Any]) -> None:
    await _checked_insert(
        conn,
        run_id,
        "INSERT INTO steps (run_id, kind, detail) VALUES (%s, %s, %s)",
        (run_id, kind, Jsonb(detail)),
    )


async def _checked_insert(
    conn: Conn, run_id: int, statement: LiteralString, params: tuple[Any, ...]
) -> psycopg.AsyncCursor[DictRow]:
    """An insert into a run's child table; a missing run is the caller's error, said plainly."""
    try:
        return await conn.execute(statement, params)
    except psycopg.errors.ForeignKeyViolation as exc:
        raise ValueError(f"unknown run id {run_id}") from exc


async def _insert_approval(conn: Conn, action: Action, decision: str, by: str, reason: str) -> None:
    await conn.execute(
        """
        INSERT INTO approvals (action_id, run_id, tool, arguments, decision, decided_by, reason,
            decided_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            action.id,
            action.run_id,
            action.tool,
            Jsonb(action.arguments),
            decision,
            by,
            reason,
            action.decided_at,
        ),
    )


async def _expire(conn: Conn, action_id: int | None) -> list[Action]:
    """Marks waiting actions past expiry (all, or one) expired and audits each."""
    cur = await conn.execute(
        """
        UPDATE actions SET status = 'expired', decided_by = 'expiry', decided_at = now(),
            reason = 'no decision before ' || expires_at::text
        WHERE status = 'waiting' AND expires_at <= now()
          AND (%s::bigint IS NULL OR id = %s)
        RETURNING *
        """,
        (action_id, action_id),
    )
    expired = [_action(row) for row in await cur.fetchall()]
    for action in expired:
        await _insert_approval(conn, action, "expired", "expiry", action.reason or "")
    return expired


async def _one(cur: psycopg.AsyncCursor[DictRow]) -> DictRow:
    row = await cur.fetchone()
    if row is None:  # RETURNING of a single-row insert or aggregate always yields a row
        raise RuntimeError("the statement returned no row")
    return row


def _jsonb(value: dict[str, Any] | None) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def _check_status(status: str, allowed: frozenset[str]) -> None:
    if status not in allowed:
        raise ValueError(
            f"unknown or unsuitable status {status!r}; expected one of {sorted(allowed)}"
        )


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "an unknown time"


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"
