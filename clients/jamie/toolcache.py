"""Read-only tool results reused for a short time, so a question that makes the model call the
same tool again does not hit the cluster again.

The key holds the person's roles: the same call by people with other roles may see other
things (the servers filter by role), so they never share an entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from .keyvalue import guarded

PREFIX = "jamie:tool:"


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
