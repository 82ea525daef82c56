"""Scarlet's operations database on PostgreSQL, one object per aggregate over one connection.

`OpsStore.open` connects and migrates; then `runs` (runs, steps, tool calls), `actions`
(actions and their approvals) and `retention` share its connection helper, which bounds every
call and turns any connection failure into `BackendUnavailable`. A method does one whole step in
one transaction and returns what its caller needs next, so the engine does not read back what
it has just written.
"""

from __future__ import annotations

from .actions import Actions
from .connection import Database
from .retention import Retention
from .rows import Action, Run
from .runs import Runs

__all__ = ["Action", "OpsStore", "Run"]


class OpsStore:
    """The operations database; safe to share between tasks."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.runs = Runs(db)
        self.actions = Actions(db)
        self.retention = Retention(db)

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        max_size: int = 5,
        timeout: float = 5.0,  # noqa: ASYNC109 - it bounds every later call too, not just this one
    ) -> OpsStore:
        """Connects and applies missing migrations before any query runs."""
        return cls(await Database.open(dsn, max_size=max_size, timeout=timeout))

    async def ping(self) -> None:
        await self._db.ping()

    async def close(self) -> None:
        await self._db.close()
