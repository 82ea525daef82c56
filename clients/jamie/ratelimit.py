"""Per-user rate limits in Redis, shared by every replica: fixed one-minute windows."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from redis.asyncio import Redis

from .keyvalue import guarded

WINDOW_SECONDS = 60


class RateLimiter:
    """Counts hits per kind (``login``, ``chat``) and key (a user name). Keys are hashed, so a
    name typed at the sign-in form never appears in Redis. Raises `BackendUnavailable`."""

    def __init__(self, redis: Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._clock = clock

    async def hit(self, kind: str, key: str, per_minute: int) -> float | None:
        """Count a hit; None when it is within the limit, else the seconds until the window
        ends (for ``Retry-After``)."""
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        name = f"jamie:rate:{kind}:{digest}:{window}"
        pipeline = self._redis.pipeline(transaction=True)
        pipeline.incr(name)
        pipeline.expire(name, WINDOW_SECONDS, nx=True)
        count, _ = await guarded(self._redis, pipeline.execute())
        if count <= per_minute:
            return None
        return (window + 1) * WINDOW_SECONDS - now
