"""Redaction of secret-looking values, and the one scrubber of backend errors."""

from __future__ import annotations

import json

import pytest
import yaml

from autodevops.common.redact import redact_text, redact_value
from autodevops.common.unavailable import BackendUnavailable


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("DB_PASSWORD=s3cr3t-value", "s3cr3t-value"),
        ('{"api_key": "abcd1234"}', "abcd1234"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"),
        ("postgres://app:pa55word@db:5432/app", "pa55word"),
        ("redis://:pa55word@cache:6379/0", "pa55word"),
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


def test_redacted_json_and_yaml_still_parse() -> None:
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


def test_backend_unavailable_names_where_and_what_to_check_without_credentials() -> None:
    error = BackendUnavailable(
        "PostgreSQL",
        "db.internal:5432",
        'connection failed: password "Tr0ub4dor" rejected for postgres://ops:Tr0ub4dor@db/ops',
        "the DSN's user and password",
        secrets=["Tr0ub4dor", None, ""],
    )
    assert str(error) == error.message
    assert error.message.startswith("PostgreSQL at db.internal:5432: connection failed: ")
    assert error.message.endswith(". Check: the DSN's user and password")
    assert "Tr0ub4dor" not in error.message and "***" in error.message


def test_credential_shaped_values_are_scrubbed_even_when_not_named() -> None:
    error = BackendUnavailable(
        "Redis", "cache:6379", "AUTH failed for redis://:hunter2hunter2@cache:6379/0", "the URL"
    )
    assert "hunter2hunter2" not in error.message and error.where == "cache:6379"


def test_a_url_given_with_credentials_is_scrubbed_where_it_names_the_backend() -> None:
    error = BackendUnavailable(
        "Prometheus", "https://ops:pa55word@prom:9090", "unreachable (ConnectError)", "the URL"
    )
    assert "pa55word" not in error.message and "prom:9090" in error.message
