"""A PostgreSQL that is down, a wrong password, TLS the server does not offer: each is a clear
error naming host:port and what to check, never the password, within the time limit."""

from __future__ import annotations

import time
from pathlib import Path

from psycopg.conninfo import make_conninfo

from devstack.base import free_port
from tests.mcp_helpers import call_text
from tests.servers.postgres.conftest import Shop, postgres_mcp


async def _error_of(shop: Shop, tmp_path: Path, dsn: str) -> tuple[str, float]:
    started = time.monotonic()
    async with postgres_mcp(shop, "viewer", tmp_path, dsn=dsn) as (client, _):
        text, error = await call_text(client, "list_tables", {})
    assert error, text
    return text, time.monotonic() - started


async def test_wrong_password_names_host_port_and_not_the_password(
    shop: Shop, tmp_path: Path
) -> None:
    wrong = "not-the-password-0123"
    text, elapsed = await _error_of(shop, tmp_path, make_conninfo(shop.dsn, password=wrong))
    assert text.startswith(f"PostgreSQL at 127.0.0.1:{shop.stack.port}: cannot connect")
    assert "password authentication failed" in text
    assert "Check: " in text
    assert wrong not in text and shop.password not in text
    assert elapsed < 10


async def test_a_database_that_is_down_is_named_within_the_timeout(
    shop: Shop, tmp_path: Path
) -> None:
    port = free_port()
    dsn = make_conninfo(shop.dsn, port=port)
    text, elapsed = await _error_of(shop, tmp_path, dsn)
    assert text.startswith(f"PostgreSQL at 127.0.0.1:{port}: cannot connect")
    assert "refused" in text
    assert shop.password not in text
    assert elapsed < 10


async def test_tls_required_of_a_server_without_it(shop: Shop, tmp_path: Path) -> None:
    text, _ = await _error_of(shop, tmp_path, make_conninfo(shop.dsn, sslmode="require"))
    assert f"127.0.0.1:{shop.stack.port}" in text
    assert "server does not support SSL" in text
