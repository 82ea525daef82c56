"""Retention: operation rows go after ``operation_days``, the audit trail after ``audit_days``.

The approvals table copies what was decided instead of referencing actions, so it can outlive
the runs and actions it audits (2 years against 90 days by default).
"""

from __future__ import annotations

from datetime import timedelta
from typing import LiteralString

from .connection import Conn, Database
from .rows import FINAL_STATUSES


class Retention:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def purge(self, operation_days: int = 90, audit_days: int = 730) -> dict[str, int]:
        """Deletes steps and tool calls older than ``operation_days``, finished runs as old with
        everything they hold, and approvals older than ``audit_days``, in one transaction.
        Returns rows deleted per table."""

        async def work(conn: Conn) -> dict[str, int]:
            old_runs = (
                "SELECT id FROM runs WHERE status = ANY(%(final)s) "
                "AND created_at < now() - %(operation)s"
            )
            params = {
                "final": list(FINAL_STATUSES),
                "operation": timedelta(days=operation_days),
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

        return await self._db.call(work)
