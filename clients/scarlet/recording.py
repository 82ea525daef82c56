"""Every tool call Scarlet makes lands in the operations database, whoever made it.

The pool is shared by all runs; the run a call belongs to (and who approved it) travels in
context variables, which asyncio keeps per task.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

from autodevops.clients.core.pool import CallNext, CallResult, ToolCall
from autodevops.common.redact import redact_value
from autodevops.common.unavailable import BackendUnavailable

from .store import OpsStore

current_run: ContextVar[int | None] = ContextVar("scarlet_current_run", default=None)
approved_by: ContextVar[str | None] = ContextVar("scarlet_approved_by", default=None)
log = logging.getLogger("autodevops.scarlet")


class RecordingHook:
    """A pool hook that records every call made during a run, with its outcome, time and size.

    Put it first in the pool's hooks: an answer given by a hook after it (a cached result)
    is recorded too, as the run received it. When the database is down the error is raised,
    not swallowed: a run does not go on unrecorded.
    """

    def __init__(self, store: OpsStore) -> None:
        self.store = store

    async def __call__(self, call: ToolCall, call_next: CallNext) -> CallResult:
        result = await call_next(call)
        run_id = current_run.get()
        if run_id is not None:
            try:
                await self.store.runs.record_tool_call(
                    run_id,
                    call.name,
                    redact_value(call.arguments),
                    result.outcome,
                    round(result.seconds * 1000, 3),
                    len(result.text.encode("utf-8")),
                    approved_by.get(),
                )
            except BackendUnavailable:
                log.warning("tool call %s of run %s not recorded: database down", call.name, run_id)
                raise
        return result
