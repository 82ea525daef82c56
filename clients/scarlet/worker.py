"""The loops that keep Scarlet moving: claim runs, execute approved actions, housekeeping.

Replicas share work through the database (`FOR UPDATE SKIP LOCKED`); a replica that dies
mid-run leaves a stale heartbeat, and another requeues or closes the run. A database
outage pauses the loops, which retry until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from autodevops.common.unavailable import BackendUnavailable

from .config import ScarletConfig
from .engine import Engine
from .leader import LeaseElector
from .store import OpsStore

log = logging.getLogger("autodevops.scarlet.worker")
PURGE_EVERY_SECONDS = 3600.0
# Decisions settle their run at once (the API calls the engine); this sweep only catches a
# replica that died between a decision and settling.
SETTLE_SWEEP_SECONDS = 60.0


class Worker:
    def __init__(
        self,
        config: ScarletConfig,
        store: OpsStore,
        engine: Engine,
        elector: LeaseElector | None = None,
    ) -> None:
        self.config = config
        self.elector = elector
        self.store = store
        self.engine = engine
        self.database_error: str | None = None
        self._last_schedule: dict[str, float] = {}
        self._last_purge = float("-inf")
        self._last_settle_sweep = float("-inf")

    async def run(self, stop: asyncio.Event) -> None:
        runs = [self._loop(stop, self._runs_once) for _ in range(self.config.worker.concurrency)]
        await asyncio.gather(
            *runs,
            self._loop(stop, self.engine.execute_one),
            self._loop(stop, self._housekeeping_once),
        )

    async def _loop(self, stop: asyncio.Event, once: Callable[[], Awaitable[bool]]) -> None:
        while not stop.is_set():
            try:
                busy = await once()
                self.database_error = None
            except BackendUnavailable as exc:
                self.database_error = str(exc)
                log.warning("operations database unavailable: %s", exc)
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.worker.poll_seconds)

    async def _runs_once(self) -> bool:
        run = await self.store.runs.claim(self.engine.worker, record_start=True)
        if run is None:
            return False
        beating = asyncio.create_task(self._heartbeat(run.id))
        try:
            await self.engine.process(run)
        except BackendUnavailable:
            raise
        except Exception as exc:
            log.exception("run %s failed", run.id)
            await self.store.runs.finish(
                run.id,
                "failed",
                {"error": f"{type(exc).__name__}: {exc}"},
                reason=f"internal error: {type(exc).__name__}",
            )
        finally:
            beating.cancel()
        return True

    async def _heartbeat(self, run_id: int) -> None:
        while True:
            await asyncio.sleep(self.config.worker.heartbeat_seconds)
            with contextlib.suppress(BackendUnavailable):
                await self.store.runs.heartbeat(run_id, self.engine.worker)

    async def _housekeeping_once(self) -> bool:
        stale = timedelta(seconds=self.config.worker.stale_after_seconds)
        recovered = await self.store.runs.recover_stale(stale, self.config.worker.max_attempts)
        for run_id, what in recovered:
            log.warning("run %s was interrupted: %s", run_id, what)
        for run_id in sorted({expired.run_id for expired in await self.store.actions.expire()}):
            await self.engine.settle_after_actions(run_id)
        now = time.monotonic()
        if now - self._last_settle_sweep >= SETTLE_SWEEP_SECONDS:
            self._last_settle_sweep = now
            for waiting in await self.store.runs.newest("waiting_approval", 500):
                await self.engine.settle_after_actions(waiting.id)
        leading = self.elector is None or await self.elector.try_acquire()
        for schedule in self.config.schedules if leading else []:
            last = self._last_schedule.get(schedule.name)
            if last is None or now - last >= schedule.every_seconds:
                self._last_schedule[schedule.name] = now
                await self.store.runs.submit(
                    "schedule",
                    schedule.question,
                    fingerprint=f"schedule:{schedule.name}",
                    dedupe_window=timedelta(seconds=schedule.every_seconds),
                    join_completed=False,
                )
        if now - self._last_purge >= PURGE_EVERY_SECONDS:
            self._last_purge = now
            retention = self.config.retention
            await self.store.retention.purge(retention.operation_days, retention.audit_days)
        return False
