"""The MCP tools a person may use through Jamie: one pool per person, read results cached.

Each person gets their own sessions to the servers, opened with Jamie's token and the
on-behalf-of headers, so every server lists, allows, rate-limits and audits as that person.
Pools idle for a while are closed; the next question opens them again.
"""

from __future__ import annotations

import asyncio
import time

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool

from .config import JamieConfig
from .metrics import JamieMetrics
from .people import Person
from .toolcache import CachingHook, ToolCache


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
        self._pools: dict[tuple[str, tuple[str, ...]], tuple[McpPool, float]] = {}
        self._lock = asyncio.Lock()

    async def pool_for(self, person: Person) -> McpPool:
        """The person's pool; it connects on its first `refresh()` (the model loop's first)."""
        key = (person.user, person.roles)
        async with self._lock:
            entry = self._pools.get(key)
            if entry is None:
                pool = McpPool(
                    [
                        HttpEndpoint(
                            server.name,
                            server.url,
                            token_file=server.token_file,
                            on_behalf_of=(person.user, person.roles),
                        )
                        for server in self.config.servers
                    ],
                    hooks=[CachingHook(self.cache, person.roles, self.metrics)],
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
