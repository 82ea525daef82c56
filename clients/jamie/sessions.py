"""Sessions in Redis, so any replica serves any person.

Only the SHA-256 of a token is stored: whoever reads Redis cannot sign in as anyone. A session
expires after `ttl_seconds` without use; each use starts the time again.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from .keyvalue import guarded
from .people import Person

PREFIX = "jamie:session:"
# A person signed in by the proxy -> the key of their one session (never its token).
PROXIED_PREFIX = "jamie:proxied:"


@dataclass(frozen=True)
class Session:
    token: str
    person: Person
    expires_at: datetime


def session_key(token: str) -> str:
    return PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


class Sessions:
    """Every call raises `BackendUnavailable` when Redis does not answer."""

    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def create(self, person: Person) -> Session:
        token = secrets.token_urlsafe(32)
        stored = json.dumps(
            {
                "user": person.user,
                "display_name": person.display_name,
                "roles": list(person.roles),
                "auth": person.auth,
            }
        )
        await guarded(self._redis, self._redis.set(session_key(token), stored, ex=self._ttl))
        return Session(token, person, self._expiry())

    async def get(self, token: str) -> Session | None:
        """The session, its expiry moved on; None when unknown, expired or unreadable."""
        person = await self._person(session_key(token))
        return None if person is None else Session(token, person, self._expiry())

    async def for_proxied(self, person: Person) -> Session | None:
        """A new session for a person the proxy names, unless they have one already (then its
        expiry moves on and None is returned). One live session per person, whatever the
        number of requests without the cookie; a change of roles replaces it."""
        index = PROXIED_PREFIX + hashlib.sha256(person.user.encode("utf-8")).hexdigest()
        stored = await guarded(self._redis, self._redis.getex(index, ex=self._ttl))
        if stored is not None:
            key = stored.decode("ascii") if isinstance(stored, bytes) else stored
            if await self._person(key) == person:
                return None
            await guarded(self._redis, self._redis.delete(key))
        session = await self.create(person)
        stored = session_key(session.token)
        await guarded(self._redis, self._redis.set(index, stored, ex=self._ttl))
        return session

    async def _person(self, key: str) -> Person | None:
        stored = await guarded(self._redis, self._redis.getex(key, ex=self._ttl))
        if stored is None:
            return None
        try:
            data = json.loads(stored)
            return Person(data["user"], data["display_name"], tuple(data["roles"]), data["auth"])
        except (ValueError, KeyError, TypeError):
            return None

    async def delete(self, token: str) -> None:
        await guarded(self._redis, self._redis.delete(session_key(token)))

    def _expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._ttl)
