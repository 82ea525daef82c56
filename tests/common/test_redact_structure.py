"""Redaction by structure (env pairs, Secret documents, embedded JSON and manifests) and in
time linear in the text."""

from __future__ import annotations

import json
import time

import pytest

from autodevops.common.redact import is_redacted, is_secret_name, redact_text, redact_value


@pytest.mark.parametrize(
    "name",
    ["DB_PASSWORD", "API_TOKEN", "STRIPE_KEY", "encryptionKey", "DB_PASS", "SENTRY_DSN",
     "aws_secret_access_key", "ssh-passphrase", "apiKey"],
)  # fmt: skip
def test_names_that_say_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["MODE", "KEYCLOAK_URL", "MONKEY", "HOME", "LOG_LEVEL"])
def test_names_that_do_not(name: str) -> None:
    assert not is_secret_name(name)


def test_env_style_pairs_hide_the_value_by_the_name() -> None:
    env = [
        {"name": "STRIPE_KEY", "value": "sk-1"},
        {"name": "MODE", "value": "fast"},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
    ]
    assert redact_value({"env": env}) == {
        "env": [
            {"name": "STRIPE_KEY", "value": "[REDACTED]"},
            {"name": "MODE", "value": "fast"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
        ]
    }


def test_a_secret_document_keeps_keys_and_sizes_only() -> None:
    secret = {
        "kind": "Secret",
        "data": {"k": "aGlkZGVu"},
        "stringData": {"note": "plain"},
    }
    assert redact_value(secret) == {
        "kind": "Secret",
        "data": {"k": "<hidden: 6 bytes>"},
        "stringData": {"note": "<hidden: 5 bytes>"},
    }
    assert redact_value({"kind": "Secret", "data": "not-a-map"})["data"] == "[REDACTED]"


def test_embedded_json_and_manifests_are_redacted_inside() -> None:
    annotation = json.dumps({"spec": {"env": [{"name": "API_TOKEN", "value": "t0k"}]}})
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: in-manifest}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {b: visible}\n"
    )
    redacted = redact_value({"annotation": annotation, "manifest": manifest})
    assert "t0k" not in redacted["annotation"]
    assert json.loads(redacted["annotation"])["spec"]["env"][0]["value"] == "[REDACTED]"
    assert "in-manifest" not in redacted["manifest"] and "visible" in redacted["manifest"]


def test_a_manifest_that_does_not_parse_is_not_copied_if_it_holds_a_secret() -> None:
    broken = "apiVersion: v1\nkind: Secret\nstringData: {a: in-broken}\n  bad: [\n"
    assert "in-broken" not in redact_value({"manifest": broken})["manifest"]
    aliased = "apiVersion: v1\nkind: Secret\nstringData: &s {a: in-alias}\nx: *s\n"
    assert "in-alias" not in redact_value({"manifest": aliased})["manifest"]


def test_deep_nesting_is_cut_not_crashed() -> None:
    value: object = "password=x"
    for _ in range(200):
        value = {"a": value}
    assert "password=x" not in json.dumps(redact_value(value))


@pytest.mark.parametrize(
    "text", ["a." * 100_000, "a" * 200_000, "x-" * 100_000 + "password", "password" * 25_000]
)
def test_redaction_takes_linear_time_on_hostile_text(text: str) -> None:
    started = time.perf_counter()
    redact_text(text)
    assert time.perf_counter() - started < 0.5


def test_literals_after_a_secret_key_stay_so_documents_still_parse() -> None:
    assert redact_text('"tokenTTL": 3600, "authEnabled": true') == (
        '"tokenTTL": 3600, "authEnabled": true'
    )
    assert redact_text("password=123abc") == "password=[REDACTED]"


def test_is_redacted_says_whether_redaction_would_hide_part() -> None:
    assert is_redacted('note="password=hunter2"') and not is_redacted('job="api"')
