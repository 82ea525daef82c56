"""A Loki that is down, slow, or says no: every failure is a clear message naming the Loki URL
and what to check, within the role's time limit."""

from __future__ import annotations

import socket
import time

import pytest

from devstack.services import audit_lines
from tests.fakes.fake_loki import FakeLoki
from tests.mcp_helpers import call_text

from .conftest import Opener


async def test_loki_down_names_its_url(loki_mcp: Opener) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with loki_mcp(url, "viewer") as (client, audit):
        text, error = await call_text(client, "query_logs", {"query": '{app="api"}'})
    assert error
    assert text.startswith(f"Loki at {url}: unreachable (ConnectError")
    assert "Check: that Loki is running and --loki-url (LOKI_URL) points at it" in text
    assert audit_lines(audit)[-1]["outcome"] == "backend_error"


async def test_a_slow_loki_is_cut_off_at_the_roles_time_limit(
    fake_loki: FakeLoki, loki_mcp: Opener
) -> None:
    fake_loki.delay = 3
    async with loki_mcp(fake_loki.url, "impatient") as (client, audit):
        started = time.monotonic()
        text, error = await call_text(client, "query_logs", {"query": '{app="api"}'})
    assert time.monotonic() - started < 2.9
    assert error and text.startswith(f"Loki at {fake_loki.url} did not answer within 1.5s")
    assert audit_lines(audit)[-1]["outcome"] == "timeout"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER",
            "invalid argument 'query': Loki refused it: parse error at line 1, col 9",
        ),
        (
            429,
            "too many outstanding requests",
            "Loki at {url}: is rate limiting queries (HTTP 429: too many outstanding requests)."
            " Check: wait a few seconds and retry",
        ),
        (
            500,
            "rpc error: code = Unavailable desc = no healthy ingesters",
            "Loki at {url}: failed the request (HTTP 500: rpc error: code = Unavailable",
        ),
        (
            502,
            "<html>bad gateway</html>",
            "Loki at {url}: failed the request (HTTP 502: <html>bad gateway</html>)",
        ),
    ],
)
async def test_loki_errors_are_reported_with_their_meaning(
    fake_loki: FakeLoki, loki_mcp: Opener, status: int, body: str, expected: str
) -> None:
    fake_loki.fail_next(status, body)
    async with loki_mcp(fake_loki.url, "viewer") as (client, _):
        text, error = await call_text(client, "query_logs", {"query": '{app="api"}'})
    assert error and text.startswith(expected.format(url=fake_loki.url)), text


async def test_the_real_parse_error_of_the_fake_reaches_the_caller(
    fake_loki: FakeLoki, loki_mcp: Opener
) -> None:
    async with loki_mcp(fake_loki.url, "loose") as (client, _):
        text, error = await call_text(client, "query_logs", {"query": '{app=~".*"}'})
    assert error and "queries require at least one regexp or equality matcher" in text
