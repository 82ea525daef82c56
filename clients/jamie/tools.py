"""The MCP tools a person may use through Jamie: one pool per person, read results cached.

Each person gets their own sessions to the servers, opened with Jamie's token and the
on-behalf-of headers, so every server lists, allows, rate-limits and audits as that person.
Pools idle for a while are closed; the next question opens them again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import CallResult, McpPool
from autodevops.common.unavailable import BackendUnavailable

from .config import JamieConfig
from .metrics import JamieMetrics
from .people import Person
from .toolcache import ToolCache

log = logging.getLogger("autodevops.jamie.tools")


class CachingPool(McpPool):
    """A person's pool: read-only results come from the cache when a fresh one is there.

    The cache key holds the person's roles, the scope every server applies, so people with
    other roles never share a result. A cache that is down only costs the saving.
    """

    def __init__(
        self,
        endpoints: Sequence[HttpEndpoint],
        cache: ToolCache,
        scope: Sequence[str],
        metrics: JamieMetrics,
        **options: float,
    ) -> None:
        super().__init__(endpoints, **options)
        self.cache = cache
        self.scope = tuple(scope)
        self.metrics = metrics

    async def call(
        self, name: str, arguments: dict[str, Any], *, time_limit: float | None = None
    ) -> CallResult:
        tool = self.tool(name)
        if tool is None or not tool.read_only or not self.cache.enabled:
            return await super().call(name, arguments, time_limit=time_limit)
        started = time.monotonic()
        try:
            cached = await self.cache.get(name, arguments, self.scope)
        except BackendUnavailable as exc:
            log.warning("tool cache skipped: %s", exc)
            self.metrics.tool_cache.labels("unavailable").inc()
            cached = None
        else:
            self.metrics.tool_cache.labels("miss" if cached is None else "hit").inc()
        if cached is not None:
            return CallResult(name, "ok", cached, time.monotonic() - started)
        result = await super().call(name, arguments, time_limit=time_limit)
        if result.outcome == "ok":
            try:
                await self.cache.put(name, arguments, self.scope, result.text)
            except BackendUnavailable as exc:
                log.warning("tool result not cached: %s", exc)
        return result


class PeoplesTools:
    """Opens, hands out and closes the per-person pools."""

    def __init__(
        self,
        config: JamieConfig,
        cache: ToolCache,
        metrics: JamieMetrics,
        idle_seconds: float = 900,
    ) -> None:
        self.config = config
        self.cache = cache
        self.metrics = metrics
        self.idle_seconds = idle_seconds
        self._pools: dict[tuple[str, tuple[str, ...]], tuple[CachingPool, float]] = {}
        self._lock = asyncio.Lock()

    async def pool_for(self, person: Person) -> CachingPool:
        """The person's pool; it connects on its first `refresh()` (the model loop's first)."""
        key = (person.user, person.roles)
        async with self._lock:
            entry = self._pools.get(key)
            if entry is None:
                pool = CachingPool(
                    [
                        HttpEndpoint(
                            server.name,
                            server.url,
                            token_file=server.token_file,
                            on_behalf_of=(person.user, person.roles),
                        )
                        for server in self.config.servers
                    ],
                    self.cache,
                    person.roles,
                    self.metrics,
                    call_timeout=self.config.limits.call_timeout_seconds,
                )
            else:
                pool = entry[0]
            self._pools[key] = (pool, time.monotonic())
        return pool

    async def close_idle(self) -> None:
        now = time.monotonic()
        async with self._lock:
            idle = [k for k, (_, used) in self._pools.items() if now - used > self.idle_seconds]
            pools = [self._pools.pop(key)[0] for key in idle]
        await asyncio.gather(*(pool.close() for pool in pools))

    async def close(self) -> None:
        async with self._lock:
            pools = [pool for pool, _ in self._pools.values()]
            self._pools.clear()
        await asyncio.gather(*(pool.close() for pool in pools))
