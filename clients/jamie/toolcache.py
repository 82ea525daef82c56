"""Read-only tool results reused for a short time, so a question that makes the model call the
same tool again does not hit the cluster again.

The key holds the person's roles: the same call by people with other roles may see other
things (the servers filter by role), so they never share an entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from autodevops.clients.core.pool import CallNext, CallResult, ToolCall
from autodevops.common.unavailable import BackendUnavailable

from .keyvalue import guarded
from .metrics import JamieMetrics

PREFIX = "jamie:tool:"
log = logging.getLogger("autodevops.jamie.tools")


class ToolCache:
    """`get` and `put` raise `BackendUnavailable` when Redis fails. A cache must never fail a tool
    call: the caller catches it and calls the tool (and skips storing its result)."""

    def __init__(self, redis: Redis, ttl_seconds: float) -> None:
        self._redis = redis
        self._ttl_ms = max(1, round(ttl_seconds * 1000)) if ttl_seconds > 0 else 0

    @property
    def enabled(self) -> bool:
        return self._ttl_ms > 0

    @staticmethod
    def key(tool: str, arguments: Mapping[str, Any], scope: Sequence[str]) -> str:
        """The entry for a call by someone with these roles (order and repeats do not count)."""
        canonical = json.dumps(
            {"tool": tool, "arguments": dict(arguments), "scope": sorted(set(scope))},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    async def get(
        self, tool: str, arguments: Mapping[str, Any], scope: Sequence[str]
    ) -> str | None:
        if not self._ttl_ms:
            return None
        stored = await guarded(self._redis, self._redis.get(self.key(tool, arguments, scope)))
        if stored is None:
            return None
        return stored.decode("utf-8") if isinstance(stored, bytes) else stored

    async def put(
        self, tool: str, arguments: Mapping[str, Any], scope: Sequence[str], text: str
    ) -> None:
        if not self._ttl_ms:
            return
        name = self.key(tool, arguments, scope)
        await guarded(self._redis, self._redis.set(name, text.encode("utf-8"), px=self._ttl_ms))


class CachingHook:
    """A pool hook: read-only results come from the cache when a fresh one is there.

    It is built for one person's pool with their roles, the scope every server applies, so
    people with other roles never share a result. A cache that is down only costs the saving.
    A hit ends the chain here: hooks placed after this one never see it, so a hook that must
    see every call (a record of calls) goes before it.
    """

    def __init__(self, cache: ToolCache, scope: Sequence[str], metrics: JamieMetrics) -> None:
        self.cache = cache
        self.scope = tuple(scope)
        self.metrics = metrics

    async def __call__(self, call: ToolCall, call_next: CallNext) -> CallResult:
        if call.tool is None or not call.tool.read_only or not self.cache.enabled:
            return await call_next(call)
        started = time.monotonic()
        try:
            cached = await self.cache.get(call.name, call.arguments, self.scope)
        except BackendUnavailable as exc:
            log.warning("tool cache skipped: %s", exc)
            self.metrics.tool_cache.labels("unavailable").inc()
            cached = None
        else:
            self.metrics.tool_cache.labels("miss" if cached is None else "hit").inc()
        if cached is not None:
            return CallResult(call.name, "ok", cached, time.monotonic() - started)
        result = await call_next(call)
        if result.outcome == "ok":
            try:
                await self.cache.put(call.name, call.arguments, self.scope, result.text)
            except BackendUnavailable as exc:
                log.warning("tool result not cached: %s", exc)
        return result
