"""Actions and approvals: the writes a run proposes, who decided them, how they ended.

Every decision (policy, person, expiry) is copied into the approvals audit trail, which
outlives the operation rows. An approved action is claimed with ``FOR UPDATE SKIP LOCKED``, so
exactly one worker executes it. A run waits for approval while any of its actions is waiting,
approved or executing; the call that ends its last one also completes the run, so the engine
learns what to announce from the call that made the change, without reading it back.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from .connection import Conn, Database, one
from .rows import (
    Action,
    Run,
    action_from,
    checked_insert,
    finished,
    insert_step,
    run_from,
    write_report,
)

DECISIONS = {"auto": "approved", "approval": "waiting", "deny": "denied"}


class UnknownAction(ValueError):
    """No such action (or not of the run named): the API answers 404, not 409."""


PENDING = frozenset({"waiting", "approved", "executing"})


class Actions:
    """The actions aggregate, with the approvals that audit them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def propose(
        self,
        run_id: int,
        tool: str,
        arguments: dict[str, Any],
        why: str,
        decision: str,
        expires_at: datetime | None,
        *,
        once: bool = False,
    ) -> Action:
        """Records a proposed write with the policy's decision. ``auto`` and ``deny`` are
        decided by ``policy`` at once, and that decision enters the audit trail too.

        With ``once`` (the engine's way) a write (tool and arguments) is proposed once: a
        resumed run or a model asking again gets the earlier action back, and so does a run
        proposing a write that another run's action already waits for (or is about to run);
        a new one is also recorded as the run's ``action_proposed`` step.
        """
        if decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r}; expected one of {sorted(DECISIONS)}")
        status = DECISIONS[decision]
        by_policy = decision != "approval"

        async def work(conn: Conn) -> Action:
            async with conn.transaction():
                if once:
                    earlier = await _earlier(conn, run_id, tool, arguments)
                    if earlier is not None:
                        return earlier
                    pending = await _pending_elsewhere(conn, tool, arguments)
                    if pending is not None:
                        return pending
                cur = await checked_insert(
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
                action = action_from(await one(cur))
                if by_policy:
                    await _insert_approval(conn, action, status, "policy", "")
                if once:
                    detail = {"action": action.id, "tool": tool, "decision": decision, "why": why}
                    await insert_step(conn, run_id, "action_proposed", detail)
                return action

        return await self._db.call(work)

    async def decide(
        self,
        action_id: int,
        approved: bool,
        by: str,
        reason: str = "",
        run_id: int | None = None,
    ) -> Action:
        """A person's decision on a waiting action; each action is decided once only.

        An action found past its expiry is marked expired (as `expire` would) and the decision
        refused. With `run_id`, an action of another run is unknown (`UnknownAction`), so a
        person who typed the wrong number decides nothing.
        """

        async def work(conn: Conn) -> tuple[Action | None, str]:
            async with conn.transaction():
                cur = await conn.execute(
                    "SELECT *, expires_at <= now() AS past_expiry FROM actions "
                    "WHERE id = %s FOR UPDATE",
                    (action_id,),
                )
                row = await cur.fetchone()
                if row is None or run_id not in (None, row["run_id"]):
                    return None, ""
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
                action = action_from(await one(cur))
                await _insert_approval(conn, action, status, by, reason)
                return action, ""

        # The refusal is raised only after the call, so an expiry found on the way is kept.
        action, refusal = await self._db.call(work)
        if action is None and not refusal:
            of_run = "" if run_id is None else f" of run {run_id}"
            raise UnknownAction(f"no action {action_id}{of_run}")
        if action is None:
            raise ValueError(refusal)
        return action

    async def expire(self) -> list[Action]:
        """Waiting actions past their expiry become ``expired`` (decided by ``expiry``)."""

        async def work(conn: Conn) -> list[Action]:
            async with conn.transaction():
                return await _expire(conn, None)

        return await self._db.call(work)

    async def claim(self, worker: str) -> Action | None:
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
            return None if row is None else action_from(row)

        return await self._db.call(work)

    async def finish(self, action_id: int, outcome: str, result: str) -> tuple[Action, Run | None]:
        """Records an execution's outcome (``ok`` or the pool's failure) on the action, on its
        audit row and as the run's ``action_executed`` step. Returns the action, and its run
        when this completed it (see `settle`)."""
        status = "executed" if outcome == "ok" else "failed"

        async def work(conn: Conn) -> tuple[Action, Run | None]:
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
                    cur = await conn.execute(
                        "SELECT status FROM actions WHERE id = %s", (action_id,)
                    )
                    current = await cur.fetchone()
                    if current is None:
                        raise ValueError(f"unknown action id {action_id}")
                    raise ValueError(f"action {action_id} is {current['status']}, not executing")
                await conn.execute(
                    """
                    UPDATE approvals SET outcome = %s, outcome_at = now()
                    WHERE action_id = %s AND decision = 'approved'
                    """,
                    (status, action_id),
                )
                action = action_from(row)
                detail = {
                    "action": action.id,
                    "tool": action.tool,
                    "outcome": outcome,
                    "approved_by": action.decided_by,
                }
                await insert_step(conn, action.run_id, "action_executed", detail)
                return action, await _settle(conn, action.run_id)

        return await self._db.call(work)

    async def get(self, action_id: int) -> Action | None:
        async def work(conn: Conn) -> Action | None:
            cur = await conn.execute("SELECT * FROM actions WHERE id = %s", (action_id,))
            row = await cur.fetchone()
            return None if row is None else action_from(row)

        return await self._db.call(work)

    async def pending(self, run_id: int | None = None) -> list[Action]:
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
            return [action_from(row) for row in await cur.fetchall()]

        return await self._db.call(work)

    async def settle(self, run_id: int) -> Run | None:
        """Completes a run waiting for approval once none of its actions is pending; returns
        the run when this call completed it, so only one caller announces it."""

        async def work(conn: Conn) -> Run | None:
            async with conn.transaction():
                return await _settle(conn, run_id)

        return await self._db.call(work)

    async def refuse_waiting(self, run_id: int, reason: str) -> Run | None:
        """A run waiting for approval whose alert resolved: its waiting actions are rejected
        by ``scarlet``, so a late approval changes nothing, and the run settles. Returns the
        run when this completed it."""

        async def work(conn: Conn) -> Run | None:
            async with conn.transaction():
                run = await _locked_run(conn, run_id)
                if run is None or run.status != "waiting_approval":
                    return None
                await _reject_waiting(conn, run_id, reason)
                return await _settle(conn, run_id)

        return await self._db.call(work)

    async def file_report(self, run_id: int, report: dict[str, Any]) -> Run:
        """Ends a pass of the engine: stores ``report`` with the run's actions added as they
        stand, and sets the status they leave: ``waiting_approval`` while any is pending,
        else ``completed``. Returns the run as stored."""

        async def work(conn: Conn) -> Run:
            async with conn.transaction():
                # Locked first: a decision settling the run meanwhile waits, then sees this.
                if await _locked_run(conn, run_id) is None:
                    raise ValueError(f"unknown run id {run_id}")
                actions = await _of_run(conn, run_id)
                pending = any(a.status in PENDING for a in actions)
                status = "waiting_approval" if pending else finished(report)
                full = {**report, "actions": [a.reported() for a in actions]}
                return await write_report(conn, run_id, status, full)

        return await self._db.call(work)

    async def close_run(
        self, run_id: int, report: dict[str, Any], reason: str, refusal: str
    ) -> Run:
        """Closes a run with ``reason`` (its alert resolved while it ran): waiting actions are
        rejected by ``scarlet`` with ``refusal``, and ``report`` lists every action as it ends."""

        async def work(conn: Conn) -> Run:
            async with conn.transaction():
                if await _locked_run(conn, run_id) is None:  # the run before its actions, always
                    raise ValueError(f"unknown run id {run_id}")
                await _reject_waiting(conn, run_id, refusal)
                actions = await _of_run(conn, run_id)
                full = {**report, "actions": [a.reported() for a in actions]}
                return await write_report(conn, run_id, "closed", full, reason)

        return await self._db.call(work)


async def _earlier(conn: Conn, run_id: int, tool: str, arguments: dict[str, Any]) -> Action | None:
    """The run's earlier action with this tool and arguments. The run is locked first and the
    actions read after, in a statement of their own: a proposal of the same write that held
    the lock has committed by then and is seen, so two cannot both insert."""
    if await _locked_run(conn, run_id) is None:
        raise ValueError(f"unknown run id {run_id}")
    cur = await conn.execute(
        """
        SELECT * FROM actions WHERE run_id = %s AND tool = %s AND arguments = %s
        ORDER BY created_at, id LIMIT 1
        """,
        (run_id, tool, Jsonb(arguments)),
    )
    row = await cur.fetchone()
    return None if row is None else action_from(row)


async def _pending_elsewhere(conn: Conn, tool: str, arguments: dict[str, Any]) -> Action | None:
    """Another run's action for the same write that is still pending. A transaction lock on
    the write serialises proposals of it, so two runs cannot both insert it."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext(%s))",
        (tool + json.dumps(arguments, sort_keys=True),),
    )
    cur = await conn.execute(
        """
        SELECT * FROM actions WHERE tool = %s AND arguments = %s AND status = ANY(%s)
        ORDER BY created_at, id LIMIT 1
        """,
        (tool, Jsonb(arguments), list(PENDING)),
    )
    row = await cur.fetchone()
    return None if row is None else action_from(row)


async def _locked_run(conn: Conn, run_id: int) -> Run | None:
    """The run, locked until the transaction ends; journal inserts are not blocked by it."""
    cur = await conn.execute("SELECT * FROM runs WHERE id = %s FOR NO KEY UPDATE", (run_id,))
    row = await cur.fetchone()
    return None if row is None else run_from(row)


async def _of_run(conn: Conn, run_id: int) -> list[Action]:
    cur = await conn.execute(
        "SELECT * FROM actions WHERE run_id = %s ORDER BY created_at, id", (run_id,)
    )
    return [action_from(row) for row in await cur.fetchall()]


async def _settle(conn: Conn, run_id: int) -> Run | None:
    """Completes the run if it waits for approval and none of its actions is pending; its
    report's actions are brought up to date. Returns the run when it completed it."""
    run = await _locked_run(conn, run_id)
    if run is None or run.status != "waiting_approval":
        return None
    actions = await _of_run(conn, run_id)
    if any(a.status in PENDING for a in actions):
        return None
    report = {**(run.report or {}), "actions": [a.reported() for a in actions]}
    return await write_report(conn, run_id, finished(report), report)


async def _reject_waiting(conn: Conn, run_id: int, reason: str) -> None:
    """Rejects, as ``scarlet``, the run's actions still waiting for a person (those `pending`
    lists), and audits each."""
    cur = await conn.execute(
        """
        UPDATE actions SET status = 'rejected', decided_by = 'scarlet', decided_at = now(),
            reason = %s
        WHERE run_id = %s AND status = 'waiting' AND (expires_at IS NULL OR expires_at > now())
        RETURNING *
        """,
        (reason, run_id),
    )
    for row in sorted(await cur.fetchall(), key=lambda row: int(row["id"])):
        await _insert_approval(conn, action_from(row), "rejected", "scarlet", reason)


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
    expired = [action_from(row) for row in await cur.fetchall()]
    for action in expired:
        await _insert_approval(conn, action, "expired", "expiry", action.reason or "")
    return expired


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "an unknown time"
