"""Secret values hidden by the object's structure, in every output format, and log filtering
that can only match what the caller may see."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.mcp_helpers import call_text
from tests.servers.kubernetes.hardening_objects import NS, session

ENV_SECRETS = ["pa55-in-env", "sk-live-in-env", "tok-in-env"]


@pytest.fixture(scope="module")
def cluster(hardened: Any) -> Any:
    return hardened


@pytest.fixture
async def reader(cluster: Any, tmp_path: Path) -> AsyncIterator[Any]:
    async with session(cluster, "reader", tmp_path) as s:
        yield s


def _pod(cluster: Any) -> str:
    pods = cluster.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3Denvy")
    return str(pods["items"][0]["metadata"]["name"])


def _no_secret(text: str) -> None:
    for secret in [*ENV_SECRETS, "in-annotation", "in-the-secret"]:
        assert secret not in text, f"{secret} leaked:\n{text}"


@pytest.mark.parametrize("output", ["yaml", "json"])
async def test_env_values_named_like_secrets_are_hidden_in_a_deployment(
    reader: Any, output: str
) -> None:
    client, _ = reader
    text, error = await call_text(
        client,
        "get_resource",
        {"kind": "deployments.apps", "name": "envy", "namespace": NS, "output": output},
    )
    assert not error, text
    _no_secret(text)
    assert "fast-mode" in text, "an ordinary env value stays readable"
    assert "secretKeyRef" in text and "FROM_SECRET" in text, "references stay readable"
    if output == "json":
        env = json.loads(text)["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {e["name"]: e.get("value") for e in env}["DB_PASSWORD"] == "[REDACTED]"


async def test_annotations_that_embed_json_are_redacted_inside(reader: Any) -> None:
    client, _ = reader
    text, _ = await call_text(
        client,
        "get_resource",
        {"kind": "deployments.apps", "name": "envy", "namespace": NS, "output": "json"},
    )
    document = json.loads(text)
    settings = json.loads(document["metadata"]["annotations"]["example.com/settings"])
    assert settings == {"password": "[REDACTED]", "mode": "fast"}
    assert "last-applied-configuration" not in text


@pytest.mark.parametrize(
    "arguments",
    [
        {"kind": "pods", "namespace": NS, "output": "yaml"},
        {"kind": "replicasets", "namespace": NS, "output": "json"},
        {"kind": "deployments.apps", "namespace": NS, "output": "yaml"},
    ],
)
async def test_lists_of_pods_and_replicasets_hide_env_values_too(
    reader: Any, arguments: dict[str, Any]
) -> None:
    client, _ = reader
    text, error = await call_text(client, "list_resources", arguments)
    assert not error, text
    _no_secret(text)
    assert "DB_PASSWORD" in text


async def test_get_a_pod_and_describe_it(reader: Any, cluster: Any) -> None:
    client, _ = reader
    pod = _pod(cluster)
    for output in ("yaml", "json", "table"):
        text, error = await call_text(
            client, "get_resource", {"kind": "po", "name": pod, "namespace": NS, "output": output}
        )
        assert not error, text
        _no_secret(text)
    text, _ = await call_text(
        client, "describe", {"kind": "deployments.apps", "name": "envy", "namespace": NS}
    )
    _no_secret(text)


async def test_a_printer_column_named_like_a_secret_is_hidden(reader: Any) -> None:
    client, _ = reader
    text, error = await call_text(
        client, "list_resources", {"kind": "gadgets.one.example.com", "namespace": NS}
    )
    assert not error, text
    header, row = text.splitlines()[:2]
    assert header.split() == ["NAME", "OWNER", "TOKEN"]
    assert row.split()[:3] == ["g1", "team-h", "[REDACTED]"]


async def test_a_role_that_may_see_secret_values_sees_env_values(
    cluster: Any, tmp_path: Path
) -> None:
    async with session(cluster, "values", tmp_path) as (client, _):
        text, _ = await call_text(
            client, "get_resource", {"kind": "deployments.apps", "name": "envy", "namespace": NS}
        )
    assert all(secret in text for secret in ENV_SECRETS)


@pytest.mark.parametrize("guess", ["hunter2", "password=h", "password=hunter2$", r"=\w{7}$"])
async def test_pod_logs_grep_cannot_guess_a_redacted_value(
    reader: Any, cluster: Any, guess: str
) -> None:
    client, _ = reader
    arguments = {"name": _pod(cluster), "namespace": NS, "grep": guess}
    text, error = await call_text(client, "pod_logs", arguments)
    assert not error and text == "(no log lines)", text


async def test_pod_logs_grep_matches_the_redacted_line(reader: Any, cluster: Any) -> None:
    client, _ = reader
    arguments = {"name": _pod(cluster), "namespace": NS, "grep": r"password=\[REDACTED\]"}
    text, _ = await call_text(client, "pod_logs", arguments)
    assert len(text.splitlines()) == 1, text
    assert text.endswith("warning: connecting with password=[REDACTED]"), text


@pytest.mark.parametrize("pattern", [r"^(?:.|.){25}!", r"^(\w+\s?)*!$"])
async def test_a_backtracking_grep_cannot_stall_the_server(
    reader: Any, cluster: Any, pattern: str
) -> None:
    client, _ = reader
    started = time.perf_counter()
    text, error = await call_text(
        client, "pod_logs", {"name": _pod(cluster), "namespace": NS, "grep": pattern}
    )
    assert not error and text == "(no log lines)", text
    assert time.perf_counter() - started < 2.0


async def test_a_grep_re2_cannot_take_is_refused_naming_the_field(
    reader: Any, cluster: Any
) -> None:
    client, _ = reader
    text, error = await call_text(
        client, "pod_logs", {"name": _pod(cluster), "namespace": NS, "grep": r"(a)\1"}
    )
    assert error and text.startswith("invalid argument 'grep': not a valid RE2"), text
