"""Which Origins the HTTP front door serves, by bind address (the HTTP tests cover the wire)."""

from __future__ import annotations

from typing import Any

import pytest

from autodevops.servers.core.http_guard import HttpGuard, is_loopback
from autodevops.servers.core.policy import Policy


def guard(bind_host: str, allowed_origins: list[str] | None = None) -> HttpGuard:
    async def app(*_: Any) -> None:
        raise AssertionError("not called")

    policy = Policy.model_validate({"server": "prometheus", "roles": {"viewer": {"tools": ["*"]}}})
    return HttpGuard(app, None, policy, [], allowed_origins or [], bind_host=bind_host)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"]
)
def test_loopback_bind_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "10.0.0.1", "::", "localhost.example", "127.0.0.1.nip.io", ""]
)
def test_addresses_that_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_a_wildcard_bind_serves_only_listed_origins() -> None:
    wide = guard("0.0.0.0", ["https://portal.example"])
    assert wide.origin_allowed("https://portal.example/")
    assert not wide.origin_allowed("http://localhost:3000")
    assert not wide.origin_allowed("http://127.0.0.1")


def test_a_loopback_bind_serves_loopback_origins_of_any_port_and_listed_ones() -> None:
    local = guard("127.0.0.1", ["https://portal.example"])
    for origin in [
        "http://localhost:3000",
        "https://127.0.0.1",
        "http://[::1]:9",
        "HTTP://LOCALHOST",
    ]:
        assert local.origin_allowed(origin), origin
    assert local.origin_allowed("https://portal.example")
    for origin in ["http://evil.example", "ftp://localhost", "null", "http://[::1", "localhost"]:
        assert not local.origin_allowed(origin), origin
