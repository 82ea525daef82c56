"""`autodevops policy check` and the token file: invalid files are refused with file, field
and reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autodevops.common.config import ConfigError
from autodevops.servers.core.identity import load_token_store
from autodevops.servers.core.policy import load_policy

REPO = Path(__file__).resolve().parents[3]


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autodevops.clients.cli", "policy", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_shipped_policy_is_valid() -> None:
    result = check(REPO / "policies" / "prometheus.yaml")
    assert result.returncode == 0, result.stderr
    assert "valid policy for the prometheus server" in result.stdout
    assert "role team: alerts, label_names" in result.stdout


def test_check_lists_bindings_and_delegates(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "server: prometheus\n"
        "roles:\n  viewer: {tools: ['*']}\n  team: {tools: [query]}\n"
        "bindings:\n  - {group: 'oidc:sre', roles: [viewer]}\n"
        "delegates:\n  - {subject: jamie, roles: [team, viewer]}\n"
    )
    result = check(path)
    assert result.returncode == 0, result.stderr
    assert "binding group oidc:sre: viewer" in result.stdout
    assert "delegate jamie may act for people with: team, viewer" in result.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("server: prometheus\nroles: {}\n", "roles: Dictionary should have at least 1 item"),
        (
            "server: prometheus\nroles:\n  a:\n    tools: ['*']\n    limits: {max_items: 0}\n",
            "roles.a.limits.max_items: Input should be greater than or equal to 1",
        ),
        (
            "server: prometheus\nroles:\n  a:\n    tools: ['*']\n    scope: {labels: {ns: x}}\n",
            "roles.a.scope.labels.ns: Input should be a valid list",
        ),
        (
            "server: prometheus\nroles:\n  a:\n    tool: ['*']\n",
            "roles.a.tool: Extra inputs are not permitted",
        ),
        (
            "server: prometheus\nstdio_role: admin\nroles:\n  a: {tools: ['*']}\n",
            "stdio_role 'admin' is not a role here (a)",
        ),
        ("server: nosuch\nroles:\n  a: {tools: ['*']}\n", "server: unknown server 'nosuch'"),
        ("- just\n- a list\n", "(top level): expected a mapping"),
        ("server: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_policy_is_refused_with_field_and_reason(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    result = check(path)
    assert result.returncode == 1
    assert result.stderr.startswith(str(path)), result.stderr
    assert expected in result.stderr, result.stderr


def test_missing_policy_file(tmp_path: Path) -> None:
    result = check(tmp_path / "absent.yaml")
    assert result.returncode == 1 and "cannot read" in result.stderr


def test_token_file_roles_must_exist(tmp_path: Path) -> None:
    policy = load_policy(REPO / "policies" / "prometheus.yaml")
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("- {token: aaaaaaaaaaaaaaaaaaaa, subject: bob, roles: [admin]}\n")
    with pytest.raises(ConfigError, match=r"0\.roles: unknown role\(s\) admin"):
        load_token_store(tokens, policy)
    tokens.write_text("- {token: short, subject: bob, roles: [viewer]}\n")
    with pytest.raises(ConfigError, match=r"0\.token: String should have at least 16"):
        load_token_store(tokens, policy)
    tokens.write_text("- {token: aaaaaaaaaaaaaaaaaaaa, subject: bob, roles: [viewer]}\n")
    store = load_token_store(tokens, policy)
    principal = store.resolve("aaaaaaaaaaaaaaaaaaaa")
    assert principal is not None and principal.subject == "bob"
    assert store.resolve("aaaaaaaaaaaaaaaaaaab") is None


def test_http_without_tokens_refuses_to_start() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "autodevops.clients.cli",
            "serve",
            "prometheus",
            "--transport",
            "http",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "--tokens-file is required" in result.stderr
