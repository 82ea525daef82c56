"""How often anyone may try a password: per client address, for the whole service, and per
user name with a delay that grows after failures.

A per-name hard lock would let anyone lock a named person out; a delay that doubles after each
further failure (capped) slows guessing to a crawl while the real person, after at most the
cap, can still sign in. Spraying one password across many names is bounded by the address and
global limits. Keys are hashed, so a name typed at the form never appears in Redis.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from .config import Limits
from .keyvalue import guarded
from .ratelimit import RateLimiter

# A name's failures are forgotten after this long without another.
FAILURE_MEMORY_SECONDS = 900


@dataclass(frozen=True)
class Held:
    """Why an attempt must wait, and for how long (for `Retry-After`)."""

    what: str
    seconds: float


class SignInLimits:
    """Raises `BackendUnavailable` when Redis does not answer."""

    def __init__(
        self, redis: Redis, limits: Limits, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._limits = limits
        self._clock = clock
        self._windows = RateLimiter(redis, clock)

    async def before(self, user: str, address: str) -> Held | None:
        """Count an attempt; a `Held` when it must not be checked now."""
        limits = self._limits
        wait = await self._windows.hit("login-all", "", limits.login_global_per_minute)
        if wait is not None:
            return Held("sign-in attempts on this service", wait)
        wait = await self._windows.hit("login-from", address, limits.login_per_address_per_minute)
        if wait is not None:
            return Held(f"sign-in attempts from {address}", wait)
        stored = await guarded(self._redis, self._redis.hgetall(self._key(user)))
        failures = int(stored.get(b"failures", 0))
        over = failures - limits.login_free_failures
        if over < 0:
            return None
        delay = min(2.0**over, limits.login_max_delay_seconds)
        wait = float(stored.get(b"last", 0)) + delay - self._clock()
        return Held(f"failed sign-ins for {user}", wait) if wait > 0 else None

    async def failed(self, user: str) -> None:
        key = self._key(user)
        pipeline = self._redis.pipeline(transaction=True)
        pipeline.hincrby(key, "failures", 1)
        pipeline.hset(key, "last", repr(self._clock()))
        pipeline.expire(key, FAILURE_MEMORY_SECONDS)
        await guarded(self._redis, pipeline.execute())

    async def succeeded(self, user: str) -> None:
        await guarded(self._redis, self._redis.delete(self._key(user)))

    @staticmethod
    def _key(user: str) -> str:
        return "jamie:login-failures:" + hashlib.sha256(user.encode("utf-8")).hexdigest()
