"""Runs and their journal: submitted by alerts, people and schedules, claimed by workers.

Replicas share one database: a run is claimed with ``FOR UPDATE SKIP LOCKED``, so no two
workers take the same one, and a run whose worker stopped heartbeating is requeued or closed
with the reason, never lost. Steps and tool calls are the run's journal, written as it goes.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from .connection import Conn, Database, one
from .rows import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    Action,
    Run,
    check_status,
    checked_insert,
    insert_step,
    json_ready,
    run_from,
    write_report,
)

RUN_KINDS = frozenset({"alert", "manual", "schedule"})
RESOLVED_REASON = "alert resolved before the run started"

# Advisory lock class for alert fingerprints (objid: the fingerprint's hash).
_FINGERPRINT_LOCK_CLASS = 0x5CA8


class Runs:
    """The runs aggregate: runs, their steps and their tool calls."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def submit(
        self,
        kind: str,
        question: str,
        *,
        fingerprint: str | None = None,
        alert: dict[str, Any] | None = None,
        dedupe_window: timedelta = timedelta(minutes=30),
        join_completed: bool = True,
    ) -> tuple[Run, bool]:
        """A new queued run, or the run the same alert started within the window (``False``):
        open, or completed (Alertmanager re-sends a firing alert every ``repeat_interval``;
        a finished investigation is not redone for it unless ``join_completed`` is off, as
        for schedules).

        A run flagged as resolved does not absorb a new firing: that alert is back and needs
        its own run. Nor does a failed or closed one: it never finished its work.
        """
        if kind not in RUN_KINDS:
            raise ValueError(f"unknown run kind {kind!r}; expected one of {sorted(RUN_KINDS)}")
        joinable = [*OPEN_STATUSES, *(["completed"] if join_completed else [])]

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
                        (fingerprint, joinable, dedupe_window),
                    )
                    row = await cur.fetchone()
                    if row is not None:
                        await insert_step(conn, row["id"], "alert_repeated", alert or {})
                        return run_from(row), False
                cur = await conn.execute(
                    """
                    INSERT INTO runs (kind, status, question, fingerprint, alert)
                    VALUES (%s, 'queued', %s, %s, %s) RETURNING *
                    """,
                    (kind, question, fingerprint, None if alert is None else Jsonb(alert)),
                )
                return run_from(await one(cur)), True

        return await self._db.call(work)

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
                    await insert_step(conn, run_id, "alert_resolved", payload)
                return ids

        return await self._db.call(work)

    async def claim(self, worker: str, *, record_start: bool = False) -> Run | None:
        """The oldest queued run, now running for ``worker``; replicas never get the same one.

        With ``record_start`` (the worker's claim) the run's ``started`` step is written by
        the same statement, so taking a run is one round trip.
        """

        async def work(conn: Conn) -> Run | None:
            cur = await conn.execute(
                """
                WITH claimed AS (
                    UPDATE runs SET status = 'running', claimed_by = %(worker)s,
                        attempts = attempts + 1, heartbeat_at = now(), updated_at = now()
                    WHERE id = (
                        SELECT id FROM runs WHERE status = 'queued'
                        ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
                    )
                    AND status = 'queued'
                    RETURNING *
                ), started AS (
                    INSERT INTO steps (run_id, kind, detail)
                    SELECT id, 'started', jsonb_build_object('worker', claimed_by,
                        'attempt', attempts)
                    FROM claimed WHERE %(record_start)s
                )
                SELECT * FROM claimed
                """,
                {"worker": worker, "record_start": record_start},
            )
            row = await cur.fetchone()
            return None if row is None else run_from(row)

        return await self._db.call(work)

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

        return await self._db.call(work)

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
                        "last_heartbeat": json_ready(row["heartbeat_at"]),
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
                        await insert_step(conn, row["id"], "requeued", detail)
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
                        await insert_step(conn, row["id"], "interrupted", detail)
                        outcome.append((row["id"], "closed"))
                return outcome

        return await self._db.call(work)

    async def add_step(self, run_id: int, kind: str, detail: dict[str, Any]) -> bool:
        """Adds a step to the run's journal and returns whether the run's alert has resolved:
        the engine asks that after each stage, and gets it without another round trip."""

        async def work(conn: Conn) -> bool:
            cur = await checked_insert(
                conn,
                run_id,
                """
                WITH step AS (
                    INSERT INTO steps (run_id, kind, detail) VALUES (%s, %s, %s) RETURNING run_id
                )
                SELECT alert_resolved FROM runs JOIN step ON runs.id = step.run_id
                """,
                (run_id, kind, Jsonb(detail)),
            )
            return bool((await one(cur))["alert_resolved"])

        return await self._db.call(work)

    async def steps_after(self, run_id: int, after_id: int = 0) -> list[dict[str, Any]]:
        """A run's steps newer than `after_id`, oldest first, JSON-ready: what a live view
        has not shown yet."""

        async def work(conn: Conn) -> list[dict[str, Any]]:
            cur = await conn.execute(
                "SELECT * FROM steps WHERE run_id = %s AND id > %s ORDER BY id",
                (run_id, after_id),
            )
            return [dict(json_ready(dict(row))) for row in await cur.fetchall()]

        return await self._db.call(work)

    async def dry_runs(self, actions: list[Action]) -> dict[int, dict[str, Any]]:
        """The recorded dry run of each of these actions that has one, by action id (read
        through their runs' steps, which are indexed by run)."""
        action_ids = [action.id for action in actions]
        run_ids = sorted({action.run_id for action in actions})

        async def work(conn: Conn) -> dict[int, dict[str, Any]]:
            cur = await conn.execute(
                """
                SELECT detail, created_at FROM steps
                WHERE run_id = ANY(%s) AND kind = 'action_dry_run'
                  AND (detail->>'action')::bigint = ANY(%s)
                ORDER BY id
                """,
                (run_ids, action_ids),
            )
            return {
                int(row["detail"]["action"]): {**row["detail"], "at": row["created_at"].isoformat()}
                for row in await cur.fetchall()
            }

        if not action_ids:
            return {}
        return await self._db.call(work)

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
            await checked_insert(
                conn,
                run_id,
                """
                INSERT INTO tool_calls
                    (run_id, tool, arguments, outcome, duration_ms, result_bytes, approved_by)
                VALUES (%s, %s, %s, %s, %s, %s, %s)
                """,
                (run_id, tool, Jsonb(arguments), outcome, duration_ms, result_bytes, approved_by),
            )

        await self._db.call(work)

    async def set_status(self, run_id: int, status: str, *, reason: str | None = None) -> None:
        """Moves a run to ``status``; a final status also stamps ``finished_at``. A ``reason`` of
        None keeps the one already recorded."""
        check_status(status)

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

        await self._db.call(work)

    async def finish(
        self, run_id: int, status: str, report: dict[str, Any], reason: str | None = None
    ) -> None:
        """Stores the report with the run's new status. ``waiting_approval`` is allowed: the
        report is written while its proposed actions still wait, and rewritten when they end."""
        check_status(status)

        async def work(conn: Conn) -> None:
            await write_report(conn, run_id, status, report, reason)

        await self._db.call(work)

    async def get(self, run_id: int) -> Run | None:
        async def work(conn: Conn) -> Run | None:
            cur = await conn.execute("SELECT * FROM runs WHERE id = %s", (run_id,))
            row = await cur.fetchone()
            return None if row is None else run_from(row)

        return await self._db.call(work)

    async def detail(self, run_id: int) -> dict[str, Any] | None:
        """The run's fields plus ``steps``, ``tool_calls``, ``actions`` and ``approvals`` (each
        oldest first), ready for ``json.dumps``."""

        async def work(conn: Conn) -> dict[str, Any] | None:
            async with conn.transaction():  # one snapshot for all five reads
                cur = await conn.execute("SELECT * FROM runs WHERE id = %s", (run_id,))
                row = await cur.fetchone()
                if row is None:
                    return None
                detail: dict[str, Any] = asdict(run_from(row))
                for table in ("steps", "tool_calls", "actions", "approvals"):
                    query = sql.SQL("SELECT * FROM {} WHERE run_id = %s ORDER BY id")
                    cur = await conn.execute(query.format(sql.Identifier(table)), (run_id,))
                    detail[table] = [dict(item) for item in await cur.fetchall()]
                return dict(json_ready(detail))

        return await self._db.call(work)

    async def newest(self, status: str | None = None, limit: int = 50) -> list[Run]:
        """Runs, newest first, of one status or all."""
        if status is not None:
            check_status(status)

        async def work(conn: Conn) -> list[Run]:
            cur = await conn.execute(
                """
                SELECT * FROM runs WHERE %s::text IS NULL OR status = %s
                ORDER BY created_at DESC, id DESC LIMIT %s
                """,
                (status, status, limit),
            )
            return [run_from(row) for row in await cur.fetchall()]

        return await self._db.call(work)

    async def overview(self) -> dict[str, Any]:
        """What the alerts watch: runs waiting to start, the oldest one's age in seconds, and
        runs finished in the last hour by final status."""

        async def work(conn: Conn) -> dict[str, Any]:
            cur = await conn.execute(
                """
                SELECT count(*) AS queued,
                       coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest
                FROM runs WHERE status = 'queued'
                """
            )
            queue = await one(cur)
            cur = await conn.execute(
                """
                SELECT status, count(*) AS runs FROM runs
                WHERE finished_at > now() - interval '1 hour' GROUP BY status
                """
            )
            finished = {status: 0 for status in FINAL_STATUSES}
            finished.update({row["status"]: row["runs"] for row in await cur.fetchall()})
            return {
                "queued": queue["queued"],
                "oldest_queued_seconds": float(queue["oldest"]),
                "finished_last_hour": finished,
            }

        return await self._db.call(work)


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"
