"""`autodevops serve mongodb` as people run it: over stdio with $MONGODB_URL, over HTTP with
its URI in a file (a mounted Secret), and refusing to start on a bad URI file."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from autodevops.common.config import ConfigError
from autodevops.servers.mongodb.server import SPEC
from devstack.base import free_port
from devstack.ferretdb import FerretHandle
from devstack.services import McpServer, audit_lines, cli, start_mcp_server
from tests.mcp_helpers import call_text, client_for
from tests.servers.mongodb.conftest import ORDERS, shipped_policy

TOKEN = "mongodb-viewer-token-0123456789"


def serve_http(workdir: Path, uri: str) -> McpServer:
    """`serve mongodb --transport http` with its URI in a file, as the chart mounts it."""
    uri_file = workdir / "mongodb-uri"
    uri_file.write_text(uri)
    tokens = [{"token": TOKEN, "subject": "alice", "roles": ["viewer"]}]
    return start_mcp_server(
        workdir, "mongodb", shipped_policy(), tokens, "--uri-file", str(uri_file)
    )


async def test_stdio_reads_the_url_from_the_environment(
    ferretdb: FerretHandle, shop: str, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    transport = StdioTransport(
        sys.executable,
        ["-m", "autodevops.clients.cli", "serve", "mongodb", "--audit-log", str(audit)],
        env={**os.environ, "MONGODB_URL": ferretdb.url},
    )
    async with Client(transport) as client:
        text, error = await call_text(client, "count", {"database": shop, "collection": "orders"})
    assert not error and text == f"{ORDERS} documents match in {shop}.orders"
    record = audit_lines(audit)[-1]
    assert record["roles"] == ["viewer"] and record["transport"] == "stdio"


async def test_http_reads_the_uri_from_a_file(
    ferretdb: FerretHandle, shop: str, tmp_path: Path
) -> None:
    server = serve_http(tmp_path, ferretdb.url + "\n")
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            ready = await http.get(server.url.removesuffix("/mcp") + "/readyz")
        assert ready.json() == {"status": "ready", "backend": "MongoDB"}
        async with client_for(server.url, TOKEN) as client:
            text, error = await call_text(
                client, "find", {"database": shop, "collection": "orders", "limit": 1}
            )
        assert not error and '"n":0' in text
    finally:
        server.stop()


def test_readyz_names_mongodb_when_it_is_down(tmp_path: Path) -> None:
    port = free_port()
    server = serve_http(tmp_path, f"mongodb://svc:pa55word@127.0.0.1:{port}/")
    readyz = server.url.removesuffix("/mcp") + "/readyz"
    try:
        anonymous = httpx.get(readyz, timeout=10)
        ready = httpx.get(readyz, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    finally:
        server.stop()
    assert anonymous.status_code == ready.status_code == 503
    assert "detail" not in anonymous.json()
    detail: Any = ready.json()["detail"]
    assert f"127.0.0.1:{port}" in detail and "pa55word" not in detail


def test_a_bad_uri_file_stops_the_server_with_its_reason(tmp_path: Path) -> None:
    missing = subprocess.run(
        [*cli(), "serve", "mongodb", "--uri-file", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1
    assert "--uri-file" in missing.stderr and "No such file" in missing.stderr
    wrong = tmp_path / "uri"
    wrong.write_text("postgres://user:hunter2@db/")
    with pytest.raises(ConfigError, match="expected a mongodb:// or mongodb"):
        SPEC.connect(argparse.Namespace(uri_file=wrong))
    wrong.write_text("mongodb://user:hunter2@/nohost")
    with pytest.raises(ConfigError, match=r"^MongoDB URI:") as refused:
        SPEC.connect(argparse.Namespace(uri_file=wrong))
    assert "hunter2" not in str(refused.value)
