"""Redis for Jamie's sessions, rate limits and tool cache: fail fast, and say where and what to
check. Without Redis nobody can sign in, so a hung call would hang every request; each call
is bounded by the timeout and never retried here."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from autodevops.common.unavailable import BackendUnavailable

T = TypeVar("T")
# Seconds a pooled connection may idle before it is checked with a PING: Redis restarted
# meanwhile is then noticed before a command is lost on a dead socket.
HEALTH_CHECK_SECONDS = 5


def open_redis(url: str, timeout_seconds: float) -> Redis:
    """A client whose every call answers or fails within `timeout_seconds`; no connection is
    made until the first call (see `ping`)."""
    return Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        decode_responses=False,
        health_check_interval=HEALTH_CHECK_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )


def where(redis: Redis) -> str:
    """host:port (or the socket path) from the client's settings; the URL holds the password."""
    kwargs = redis.connection_pool.connection_kwargs
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


async def guarded(redis: Redis, operation: Awaitable[T]) -> T:
    """Await a Redis call; a lost, refused or silent connection becomes `BackendUnavailable`."""
    try:
        return await operation
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        timeout = redis.connection_pool.connection_kwargs.get("socket_timeout")
        within = f" within {timeout:g} s" if isinstance(timeout, int | float) else ""
        reason = str(exc)[:300] or type(exc).__name__
        if isinstance(exc, AuthenticationError):
            happened = f"refused the credentials in the URL ({reason})"
        else:
            happened = f"unreachable or did not answer{within} ({reason})"
        raise BackendUnavailable(
            "Redis",
            where(redis),
            happened,
            "that Redis is running and that redis.url_file holds the right URL",
            secrets=[redis.connection_pool.connection_kwargs.get("password")],
        ) from exc


async def ping(redis: Redis) -> None:
    """Check that Redis answers (for readiness); `BackendUnavailable` otherwise."""
    await guarded(redis, redis.ping())
