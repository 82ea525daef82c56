"""Sessions, rate limits and the tool cache on the real Redis of the local stack; outages on a
Redis of the test's own, stopped and started again."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from autodevops.clients.jamie.config import Limits
from autodevops.clients.jamie.keyvalue import open_redis, ping
from autodevops.clients.jamie.people import Person
from autodevops.clients.jamie.ratelimit import RateLimiter
from autodevops.clients.jamie.sessions import Sessions, session_key
from autodevops.clients.jamie.signin import SignInLimits
from autodevops.clients.jamie.toolcache import ToolCache
from autodevops.common.unavailable import BackendUnavailable
from devstack.base import free_port
from devstack.redis import RedisHandle

ANA = Person("ana", "Ana Lima", ("viewer", "operator"), "password")
BO = Person("bo", "bo", (), "proxy")


@pytest.fixture
async def client(redis: RedisHandle) -> AsyncIterator[Redis]:
    connection = open_redis(redis.url, timeout_seconds=2)
    yield connection
    await connection.aclose()


class OwnRedis:
    """A redis-server of this test's own on a loopback port, with a password: it can be killed
    and started again on the same port without disturbing the shared one."""

    password = "s3cret-pass"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://:{self.password}@127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "/usr/bin/redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                self.password,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = SyncRedis(port=self.port, password=self.password, socket_timeout=1)
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                try:
                    if probe.ping():
                        return
                except RedisError:
                    assert self.proc.poll() is None, "redis-server exited at start"
                    time.sleep(0.05)
        finally:
            probe.close()
        raise AssertionError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


# Sessions


async def test_session_create_get_delete(client: Redis) -> None:
    sessions = Sessions(client, ttl_seconds=600)
    before = datetime.now(UTC)
    session = await sessions.create(ANA)
    assert session.person == ANA
    assert before + timedelta(seconds=599) <= session.expires_at
    assert session.expires_at <= datetime.now(UTC) + timedelta(seconds=600)
    assert len(session.token) >= 43

    found = await sessions.get(session.token)
    assert found is not None and found.person == ANA and found.token == session.token
    other = await sessions.create(BO)
    assert other.token != session.token
    found_other = await sessions.get(other.token)
    assert found_other is not None and found_other.person == BO

    await sessions.delete(session.token)
    assert await sessions.get(session.token) is None
    assert await sessions.get(other.token) is not None
    await sessions.delete(session.token)  # deleting twice is fine
    assert await sessions.get("made-up-token") is None
    assert await sessions.get("") is None


async def test_sessions_slide_on_use_and_expire_when_unused(client: Redis) -> None:
    sessions = Sessions(client, ttl_seconds=2)
    session = await sessions.create(ANA)
    await asyncio.sleep(1.2)
    assert await sessions.get(session.token) is not None  # used: two more seconds
    await asyncio.sleep(1.2)  # 2.4 s after creation, 1.2 s after the last use
    assert await sessions.get(session.token) is not None
    assert 1500 < await client.pttl(session_key(session.token)) <= 2000
    await asyncio.sleep(2.2)
    assert await sessions.get(session.token) is None
    assert await client.exists(session_key(session.token)) == 0


async def test_tokens_are_stored_only_as_digests(client: Redis) -> None:
    sessions = Sessions(client, ttl_seconds=600)
    created = [await sessions.create(person) for person in (ANA, BO, ANA)]
    tokens = [session.token for session in created]
    for token in tokens:
        digest = hashlib.sha256(token.encode()).hexdigest()
        assert await client.ttl(f"jamie:session:{digest}") > 590
    keys = [key async for key in client.scan_iter(match="jamie:*", count=1000)]
    assert keys
    for key in keys:
        if await client.type(key) == b"string":
            stored = key + (await client.get(key) or b"")
        else:
            stored = key + (await client.dump(key) or b"")
        for token in tokens:
            assert token.encode() not in stored


async def test_an_unreadable_session_is_no_session(client: Redis) -> None:
    sessions = Sessions(client, ttl_seconds=600)
    token = f"broken-{uuid.uuid4()}"
    await client.set(session_key(token), b"{not json", ex=60)
    assert await sessions.get(token) is None
    await client.set(session_key(token), b'{"user": "ana"}', ex=60)
    assert await sessions.get(token) is None


# Rate limits


class FixedClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_rate_limiter_allows_the_limit_then_says_when_to_retry(client: Redis) -> None:
    clock = FixedClock(28_000_000 * 60 + 45.5)
    limiter = RateLimiter(client, clock=clock)
    user = f"ana-{uuid.uuid4()}"
    assert [await limiter.hit("login", user, 3) for _ in range(3)] == [None, None, None]
    assert await limiter.hit("login", user, 3) == pytest.approx(14.5)
    assert await limiter.hit("login", user, 3) == pytest.approx(14.5)
    # Another user, or another kind of hit, counts on its own.
    assert await limiter.hit("login", f"bo-{uuid.uuid4()}", 3) is None
    assert await limiter.hit("chat", user, 3) is None
    # The next minute starts afresh.
    clock.now += 14.5
    assert await limiter.hit("login", user, 3) is None

    keys = [key.decode() async for key in client.scan_iter(match="jamie:rate:login:*")]
    digest = hashlib.sha256(user.encode()).hexdigest()
    mine = sorted(key for key in keys if digest in key)
    assert mine == [f"jamie:rate:login:{digest}:28000000", f"jamie:rate:login:{digest}:28000001"]
    assert not any(user in key for key in keys)
    assert 0 < await client.ttl(mine[0]) <= 60


async def test_rate_limiter_on_the_real_clock(client: Redis) -> None:
    limiter = RateLimiter(client)
    user = f"ana-{uuid.uuid4()}"
    first = await limiter.hit("chat", user, 1)
    second = await limiter.hit("chat", user, 1)
    # Unless the minute turned between the two hits, the second is refused.
    assert first is None
    assert second is None or 0 < second <= 60


# Sign-in limits


def _window_clock() -> FixedClock:
    """A minute of its own, so other tests' attempts on this Redis do not count."""
    return FixedClock(60.0 * (30_000_000 + uuid.uuid4().int % 1_000_000) + 1)


async def test_failed_sign_ins_slow_a_name_down_but_never_lock_it(client: Redis) -> None:
    clock = _window_clock()
    limits = Limits(login_free_failures=3, login_max_delay_seconds=8)
    guard = SignInLimits(client, limits, clock=clock)
    user, other = f"ana-{uuid.uuid4()}", f"bo-{uuid.uuid4()}"
    for _ in range(3):
        assert await guard.before(user, "10.0.0.1") is None
        await guard.failed(user)
    delays = []
    for _ in range(6):
        held = await guard.before(user, "10.0.0.1")
        assert held is not None and user in held.what
        delays.append(held.seconds)
        clock.now += held.seconds  # the wait is over: one more try is checked
        assert await guard.before(user, "10.0.0.1") is None
        await guard.failed(user)
    assert delays == [1, 2, 4, 8, 8, 8]  # grows, then capped: the person can always retry
    assert await guard.before(other, "10.0.0.1") is None  # another name is not held back
    clock.now += 8
    await guard.succeeded(user)
    assert await guard.before(user, "10.0.0.1") is None
    await guard.failed(user)
    assert await guard.before(user, "10.0.0.1") is None  # counting starts again
    keys = [key.decode() async for key in client.scan_iter(match="jamie:login-failures:*")]
    assert keys and not any(user in key for key in keys)


async def test_sign_ins_are_limited_per_client_address_and_for_the_service(client: Redis) -> None:
    clock = _window_clock()
    limits = Limits(login_per_address_per_minute=3, login_global_per_minute=5)
    guard = SignInLimits(client, limits, clock=clock)
    # One password sprayed over many names from one address.
    spray = [await guard.before(f"name-{n}-{uuid.uuid4()}", "10.0.0.7") for n in range(4)]
    assert spray[:3] == [None, None, None]
    assert spray[3] is not None and spray[3].what == "sign-in attempts from 10.0.0.7"
    assert 0 < spray[3].seconds <= 60
    # Another address still gets in, until the whole service has had its share.
    assert await guard.before(f"x-{uuid.uuid4()}", "10.0.0.8") is None
    held = await guard.before(f"y-{uuid.uuid4()}", "10.0.0.9")
    assert held is not None and held.what == "sign-in attempts on this service"
    clock.now += 60
    assert await guard.before(f"z-{uuid.uuid4()}", "10.0.0.7") is None


async def test_a_proxied_person_has_one_session_whatever_the_requests(client: Redis) -> None:
    sessions = Sessions(client, ttl_seconds=600)
    user = f"dana-{uuid.uuid4()}"
    dana = Person(user, user, ("viewer",), "proxy")
    first = await sessions.for_proxied(dana)
    assert first is not None
    assert [await sessions.for_proxied(dana) for _ in range(30)] == [None] * 30
    found = await sessions.get(first.token)
    assert found is not None and found.person == dana

    promoted = Person(user, user, ("viewer", "operator"), "proxy")
    second = await sessions.for_proxied(promoted)
    assert second is not None and second.person == promoted
    assert await sessions.get(first.token) is None  # the old roles do not live on
    index = "jamie:proxied:" + hashlib.sha256(user.encode()).hexdigest()
    assert await client.get(index) == session_key(second.token).encode()
    assert 0 < await client.ttl(index) <= 600


# Tool cache


async def test_tool_cache_is_shared_only_by_the_same_roles(client: Redis) -> None:
    cache = ToolCache(client, ttl_seconds=30)
    namespace = f"web-{uuid.uuid4()}"
    arguments = {"namespace": namespace, "limit": 5}
    assert await cache.get("pods_list", arguments, ["viewer", "operator"]) is None
    await cache.put("pods_list", arguments, ["viewer", "operator"], "web-1 Running, déjà vu")

    reordered = {"limit": 5, "namespace": namespace}
    same_roles = ["operator", "viewer", "viewer"]
    assert await cache.get("pods_list", reordered, same_roles) == "web-1 Running, déjà vu"
    assert await cache.get("pods_list", arguments, ["viewer"]) is None
    assert await cache.get("pods_list", arguments, ["viewer", "operator", "admin"]) is None
    assert await cache.get("pods_list", {**arguments, "limit": 6}, same_roles) is None
    assert await cache.get("pods_describe", arguments, same_roles) is None

    key = ToolCache.key("pods_list", arguments, same_roles)
    assert key.startswith("jamie:tool:") and len(key) == len("jamie:tool:") + 64
    assert namespace not in key
    assert 29_000 < await client.pttl(key) <= 30_000


async def test_tool_cache_entries_expire(client: Redis) -> None:
    cache = ToolCache(client, ttl_seconds=0.5)
    arguments = {"query": f"up{{job='{uuid.uuid4()}'}}"}
    await cache.put("query", arguments, ["viewer"], "1")
    assert await cache.get("query", arguments, ["viewer"]) == "1"
    await asyncio.sleep(0.7)
    assert await cache.get("query", arguments, ["viewer"]) is None


async def test_tool_cache_with_ttl_zero_never_calls_redis() -> None:
    # Nothing listens there: any Redis call would raise.
    nowhere = open_redis(f"redis://127.0.0.1:{free_port()}/0", timeout_seconds=1)
    try:
        cache = ToolCache(nowhere, ttl_seconds=0)
        await cache.put("pods_list", {}, ["viewer"], "text")
        assert await cache.get("pods_list", {}, ["viewer"]) is None
        with pytest.raises(BackendUnavailable):
            await ToolCache(nowhere, ttl_seconds=30).get("pods_list", {}, ["viewer"])
    finally:
        await nowhere.aclose()


# Outages


async def test_redis_down_is_a_clear_error_within_the_timeout_then_recovers(
    own_redis: OwnRedis,
) -> None:
    connection = open_redis(own_redis.url, timeout_seconds=1)
    try:
        sessions = Sessions(connection, ttl_seconds=600)
        limiter = RateLimiter(connection)
        cache = ToolCache(connection, ttl_seconds=30)
        await ping(connection)
        session = await sessions.create(ANA)
        assert await sessions.get(session.token) is not None

        own_redis.stop()
        calls = [
            ping(connection),
            sessions.get(session.token),
            sessions.create(BO),
            sessions.delete(session.token),
            limiter.hit("login", "ana", 10),
            cache.get("pods_list", {}, ["viewer"]),
            cache.put("pods_list", {}, ["viewer"], "text"),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(BackendUnavailable) as caught:
                await call
            assert time.monotonic() - started < 2
            message = str(caught.value)
            assert f"Redis at 127.0.0.1:{own_redis.port}: unreachable" in message
            assert "Check: that Redis is running and that redis.url_file holds the right URL" in (
                message
            )
            assert own_redis.password not in message

        own_redis.start()  # empty again: sessions did not survive, but the client works
        await ping(connection)
        assert await sessions.get(session.token) is None
        again = await sessions.create(ANA)
        assert await sessions.get(again.token) is not None
        assert await limiter.hit("login", "ana", 10) is None
    finally:
        await connection.aclose()


async def test_redis_that_accepts_but_never_answers_does_not_hang() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        connection = open_redis(f"redis://:pw-never-shown@127.0.0.1:{port}/0", 0.5)
        try:
            started = time.monotonic()
            with pytest.raises(BackendUnavailable) as caught:
                await ping(connection)
            assert time.monotonic() - started < 2
        finally:
            await connection.aclose()
    message = str(caught.value)
    assert f"Redis at 127.0.0.1:{port}: unreachable or did not answer within 0.5 s" in message
    assert "pw-never-shown" not in message


async def test_a_wrong_password_says_to_check_the_url(own_redis: OwnRedis) -> None:
    connection = open_redis(f"redis://:wrong-pw@127.0.0.1:{own_redis.port}/0", 1)
    try:
        with pytest.raises(BackendUnavailable) as caught:
            await ping(connection)
    finally:
        await connection.aclose()
    message = str(caught.value)
    assert f"Redis at 127.0.0.1:{own_redis.port}: refused the credentials in the URL" in message
    assert "redis.url_file holds the right URL" in message
    assert "wrong-pw" not in message and own_redis.password not in message
