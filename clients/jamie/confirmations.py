"""A write waits for its person's click, whichever replica the click lands on.

The waiting turn blocks on a Redis list; the click, served by any replica, checks that the
confirmation is the clicker's and still open, then pushes the decision onto that list.
Nothing else lets a write run: no click before the time is up means no.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

from .keyvalue import guarded

PREFIX = "jamie:confirm:"
# Below the Redis client's socket timeout, so a blocking pop never looks like a dead server.
POLL_SECONDS = 1


@dataclass(frozen=True)
class Decision:
    approved: bool
    by: str
    reason: str


DecideResult = Literal["decided", "unknown", "already_decided"]


class Confirmations:
    def __init__(self, redis: Redis, wait_seconds: float) -> None:
        self.redis = redis
        self.wait_seconds = wait_seconds

    async def open(self, user: str, tool: str, arguments: dict[str, Any]) -> str:
        confirmation = secrets.token_urlsafe(16)
        record = json.dumps({"user": user, "tool": tool, "arguments": arguments}, default=str)
        ttl = int(self.wait_seconds) + 60
        await guarded(self.redis, self.redis.set(PREFIX + confirmation, record, ex=ttl))
        return confirmation

    async def wait(self, confirmation: str) -> Decision:
        """The person's decision, or a refusal when the time is up."""
        deadline = time.monotonic() + self.wait_seconds
        key = PREFIX + confirmation
        while (left := deadline - time.monotonic()) > 0:
            popped = await guarded(
                self.redis, self.redis.blpop([key + ":decision"], timeout=min(POLL_SECONDS, left))
            )
            if popped is not None:
                decision = json.loads(popped[1])
                return Decision(decision["approved"], decision["by"], decision["reason"])
        # Closed first, so a click arriving now gets "already decided" rather than vanishing.
        closed = await guarded(self.redis, self.redis.set(key + ":decided", "expired", nx=True))
        if not closed:
            popped = await guarded(self.redis, self.redis.blpop([key + ":decision"], timeout=1))
            if popped is not None:
                decision = json.loads(popped[1])
                return Decision(decision["approved"], decision["by"], decision["reason"])
        minutes = self.wait_seconds / 60
        return Decision(False, "jamie", f"nobody confirmed within {minutes:g} minute(s)")

    async def cancel(self, confirmation: str) -> None:
        """The turn is gone (the person left): a later click must find it decided."""
        key = PREFIX + confirmation
        await guarded(self.redis, self.redis.set(key + ":decided", "abandoned", nx=True, ex=120))

    async def decide(self, user: str, confirmation: str, approve: bool) -> DecideResult:
        key = PREFIX + confirmation
        raw = await guarded(self.redis, self.redis.get(key))
        if raw is None or json.loads(raw)["user"] != user:
            return "unknown"
        ttl = int(self.wait_seconds) + 60
        first = await guarded(self.redis, self.redis.set(key + ":decided", "1", nx=True, ex=ttl))
        if not first:
            return "already_decided"
        reason = "confirmed" if approve else "cancelled"
        decision = json.dumps({"approved": approve, "by": user, "reason": reason})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key + ":decision", decision)
            pipe.expire(key + ":decision", ttl)
            await guarded(self.redis, pipe.execute())
        return "decided"
