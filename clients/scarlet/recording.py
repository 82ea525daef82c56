"""Every tool call Scarlet makes lands in the operations database, whoever made it.

The pool is shared by all runs; the run a call belongs to (and who approved it) travels in
context variables, which asyncio keeps per task.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

from autodevops.clients.core.endpoints import Endpoint
from autodevops.clients.core.pool import CallResult, McpPool
from autodevops.common.redact import redact_value
from autodevops.common.unavailable import BackendUnavailable

from .store import OpsStore

current_run: ContextVar[int | None] = ContextVar("scarlet_current_run", default=None)
approved_by: ContextVar[str | None] = ContextVar("scarlet_approved_by", default=None)
log = logging.getLogger("autodevops.scarlet")


class RecordingPool(McpPool):
    def __init__(self, endpoints: Sequence[Endpoint], store: OpsStore, **options: float) -> None:
        super().__init__(endpoints, **options)
        self.store = store

    async def call(
        self, name: str, arguments: dict[str, Any], *, time_limit: float | None = None
    ) -> CallResult:
        result = await super().call(name, arguments, time_limit=time_limit)
        run_id = current_run.get()
        if run_id is not None:
            try:
                await self.store.runs.record_tool_call(
                    run_id,
                    name,
                    redact_value(arguments),
                    result.outcome,
                    round(result.seconds * 1000, 3),
                    len(result.text.encode("utf-8")),
                    approved_by.get(),
                )
            except BackendUnavailable:
                log.warning("tool call %s of run %s not recorded: database down", name, run_id)
                raise
        return result
