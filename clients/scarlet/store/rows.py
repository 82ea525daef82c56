"""The rows the store hands out, and the few statements more than one aggregate writes.

An action's end can end its run, and most writes add to a run's journal: these helpers take
the caller's connection, so such writes share the caller's transaction instead of a new call.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, LiteralString

import psycopg
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from .connection import Conn

OPEN_STATUSES = ("queued", "running", "waiting_approval")
FINAL_STATUSES = ("completed", "partial", "failed", "closed")
RUN_STATUSES = frozenset(OPEN_STATUSES + FINAL_STATUSES)


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
    alert_resolved: bool = False


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

    def reported(self) -> dict[str, Any]:
        """The action as a run's report shows it: what, why, who decided, what came of it."""
        return {
            "id": self.id,
            "tool": self.tool,
            "arguments": self.arguments,
            "why": self.why,
            "decision": self.decision,
            "status": self.status,
            "decided_by": self.decided_by,
            "result": self.result,
        }


_RUN_FIELDS = tuple(f.name for f in fields(Run))
_ACTION_FIELDS = tuple(f.name for f in fields(Action))


def run_from(row: DictRow) -> Run:
    return Run(**{name: row[name] for name in _RUN_FIELDS})


def action_from(row: DictRow) -> Action:
    return Action(**{name: row[name] for name in _ACTION_FIELDS})


def finished(report: dict[str, Any]) -> str:
    """How a run without pending actions ends: "partial" when its report names evidence it
    could not read."""
    return "partial" if report.get("missing") else "completed"


async def write_report(
    conn: Conn, run_id: int, status: str, report: dict[str, Any], reason: str | None = None
) -> Run:
    """Sets the run's status and report; a final status stamps ``finished_at``, a ``reason``
    of None keeps the one recorded."""
    cur = await conn.execute(
        """
        UPDATE runs SET status = %s, report = %s, reason = coalesce(%s, reason),
            finished_at = CASE WHEN %s THEN now() END, updated_at = now()
        WHERE id = %s RETURNING *
        """,
        (status, Jsonb(report), reason, status in FINAL_STATUSES, run_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise ValueError(f"unknown run id {run_id}")
    return run_from(row)


async def insert_step(conn: Conn, run_id: int, kind: str, detail: dict[str, Any]) -> None:
    await checked_insert(
        conn,
        run_id,
        "INSERT INTO steps (run_id, kind, detail) VALUES (%s, %s, %s)",
        (run_id, kind, Jsonb(detail)),
    )


async def checked_insert(
    conn: Conn, run_id: int, statement: LiteralString, params: tuple[Any, ...]
) -> psycopg.AsyncCursor[DictRow]:
    """An insert into a run's child table; a missing run is the caller's error, said plainly."""
    try:
        return await conn.execute(statement, params)
    except psycopg.errors.ForeignKeyViolation as exc:
        raise ValueError(f"unknown run id {run_id}") from exc


def check_status(status: str) -> None:
    if status not in RUN_STATUSES:
        raise ValueError(
            f"unknown or unsuitable status {status!r}; expected one of {sorted(RUN_STATUSES)}"
        )


def json_ready(value: Any) -> Any:
    """Rows as an API can send them: datetimes become ISO 8601 strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_ready(item) for item in value]
    return value
