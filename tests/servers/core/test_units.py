"""Pieces of the gate that need no backend: redaction, rendering limits, rate limit, schemas."""

from __future__ import annotations

import pytest

from autodevops.servers.core.app import compact_schema
from autodevops.servers.core.output import Table, Text, render
from autodevops.servers.core.ratelimit import RateLimiter
from autodevops.servers.core.redact import redact_text, redact_value


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("DB_PASSWORD=s3cr3t-value", "s3cr3t-value"),
        ('{"api_key": "abcd1234"}', "abcd1234"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"),
        ("postgres://app:pa55word@db:5432/app", "pa55word"),
        ("key AKIAABCDEFGHIJKLMNOP here", "AKIAABCDEFGHIJKLMNOP"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl", "eyJzdWIi"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "MIIE"),
        ("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890"),
    ],
)
def test_secret_looking_values_are_redacted(text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted and "[REDACTED]" in redacted


def test_ordinary_text_is_left_alone() -> None:
    text = 'up{job="api",namespace="team-a"} 1\nrate(http_requests_total[5m])'
    assert redact_text(text) == text


def test_redact_value_drops_whole_secret_fields() -> None:
    value = {"query": "up", "token": "abc", "nested": [{"password": "x", "name": "y"}]}
    assert redact_value(value) == {
        "query": "up",
        "token": "[REDACTED]",
        "nested": [{"password": "[REDACTED]", "name": "y"}],
    }


def test_render_cuts_items_with_a_notice() -> None:
    table = Table(["A", "B"], [[str(i), "x"] for i in range(10)], narrow="Filter by A.")
    rendered = render(table, max_items=3, max_bytes=10_000)
    lines = rendered.text.splitlines()
    assert lines[:4] == ["A  B", "0  x", "1  x", "2  x"]
    assert lines[-1] == "[cut: showing 3 of 10 rows (limit 3). Filter by A.]"
    assert rendered.cut and rendered.items == 3


def test_render_cuts_bytes_on_a_line_boundary() -> None:
    rendered = render(Text("line\n" * 1000, narrow="Ask less."), max_items=10, max_bytes=400)
    assert len(rendered.text.encode()) <= 400 and rendered.cut
    body, notice = rendered.text.rsplit("\n", 1)
    assert set(body.splitlines()) == {"line"}
    assert notice.startswith("[cut: result exceeded 400 bytes") and "Ask less." in notice


def test_render_whole_result_is_not_marked_cut() -> None:
    rendered = render(Table(["A"], []), max_items=5, max_bytes=1000)
    assert rendered.text == "A\n(none)" and not rendered.cut


def test_rate_limiter_window() -> None:
    limiter = RateLimiter(window_seconds=60)
    assert [limiter.allow("u", 2, now=t) for t in (0, 1, 2)] == [True, True, False]
    assert limiter.allow("other", 2, now=2)
    assert limiter.allow("u", 2, now=60.5)


def test_compact_schema_drops_titles_but_keeps_a_field_named_title() -> None:
    schema = {
        "title": "Args",
        "type": "object",
        "properties": {"title": {"title": "Title", "type": "string"}},
    }
    assert compact_schema(schema) == {"type": "object", "properties": {"title": {"type": "string"}}}


def test_redacted_json_and_yaml_still_parse() -> None:
    import json

    import yaml

    document = {
        "serviceAccountToken": {"path": "token", "expirationSeconds": 3607},
        "automountServiceAccountToken": False,
        "tokenTTL": 3600,
        "password": "hunter2",
        "secret": {"secretName": "db"},
    }
    as_json = redact_text(json.dumps(document, indent=1))
    parsed = json.loads(as_json)
    assert parsed["password"] == "[REDACTED]" and parsed["serviceAccountToken"]["path"] == "token"
    assert parsed["automountServiceAccountToken"] is False and parsed["tokenTTL"] == 3600
    as_yaml = redact_text(yaml.safe_dump(document))
    assert yaml.safe_load(as_yaml)["serviceAccountToken"] == {
        "path": "token",
        "expirationSeconds": 3607,
    }
    assert "hunter2" not in as_yaml
