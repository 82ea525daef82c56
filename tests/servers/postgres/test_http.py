"""`autodevops serve postgres --dsn-file` over HTTP, as users run it: readiness, the audit, and a
million-row result read in bounded memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from psycopg.conninfo import make_conninfo

from autodevops.servers.core.output import parse_table
from devstack.services import McpServer, audit_lines, start_mcp_server
from tests.mcp_helpers import call_text, client_for
from tests.servers.postgres.conftest import Shop

TOKEN = "postgres-viewer-token-0123456789"
MILLION = "SELECT g AS n, repeat('x', 100) AS filler FROM generate_series(1, 1000000) g"


def serve(shop: Shop, workdir: Path, dsn: str) -> McpServer:
    dsn_file = workdir / "dsn"
    dsn_file.write_text(dsn)
    dsn_file.chmod(0o600)
    tokens = [{"token": TOKEN, "subject": "alice", "roles": ["viewer"]}]
    return start_mcp_server(workdir, "postgres", shop.policy, tokens, "--dsn-file", str(dsn_file))


@pytest.fixture
def server(shop: Shop, tmp_path: Path) -> Iterator[McpServer]:
    running = serve(shop, tmp_path, shop.dsn)
    yield running
    running.stop()


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


async def test_a_million_rows_are_cut_without_being_fetched(server: McpServer) -> None:
    async with client_for(server.url, TOKEN) as client:
        await call_text(client, "query", {"sql": "SELECT 1"})
        before = peak_rss_kib(server.process.pid)
        text, error = await call_text(client, "query", {"sql": MILLION})
        after = peak_rss_kib(server.process.pid)
    assert not error, text
    assert [row[0] for row in parse_table(text).rows] == [str(n) for n in range(1, 101)]
    assert "more rows exist: reading stopped at 100 rows (max_rows)" in text
    # The whole result is over 100 MB; a server-side cursor reads 101 rows of it.
    assert after - before < 20_000, f"peak RSS grew by {after - before} KiB"
    record = audit_lines(server.audit_log)[-1]
    assert record["subject"] == "alice" and record["tool"] == "query"
    assert record["outcome"] == "ok"


def test_ready_names_the_database_and_hides_the_password(shop: Shop, tmp_path: Path) -> None:
    running = serve(shop, tmp_path, make_conninfo(shop.dsn, password="wrong-password-42"))
    try:
        base = running.url.removesuffix("/mcp")
        assert httpx.get(f"{base}/readyz", timeout=10).json() == {"status": "unavailable"}
        response = httpx.get(
            f"{base}/readyz", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert response.status_code == 503
        detail = response.json()["detail"]
        assert f"PostgreSQL at 127.0.0.1:{shop.stack.port}" in detail
        assert "password authentication failed" in detail
        assert "wrong-password-42" not in detail
    finally:
        running.stop()


def test_ready_when_the_role_can_connect(server: McpServer) -> None:
    base = server.url.removesuffix("/mcp")
    response = httpx.get(f"{base}/readyz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "backend": "PostgreSQL"}
