"""Scarlet's configuration: the shipped example is valid; mistakes name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from autodevops.clients.scarlet.config import load_config
from autodevops.common.config import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "clients" / "scarlet" / "scarlet.example.yaml"
LOCAL = EXAMPLE.with_name("scarlet.local.yaml")


def test_the_example_is_valid_and_writes_default_to_deny() -> None:
    config = load_config(EXAMPLE)
    assert [s.name for s in config.servers] == ["kubernetes", "prometheus", "loki"]
    assert config.actions.decide("kubernetes__rollout_restart") == "approval"
    assert config.actions.decide("kubernetes__delete_resource") == "deny"
    assert config.retention.operation_days == 90 and config.retention.audit_days == 730
    assert config.actions.approvers("kubernetes__rollout_restart") == ("approver",)
    assert config.delegable_roles("jamie") == ("viewer", "approver")
    assert config.delegable_roles("alertmanager") == ()


def test_approver_roles_per_rule_and_what_delegates_may_hand_on(tmp_path: Path) -> None:
    path = tmp_path / "scarlet.yaml"
    body = EXAMPLE.read_text().split("actions:")[0] + "api_tokens_file: tokens.yaml\n"
    path.write_text(
        body
        + """
actions:
  approver_roles: [approver, on-call]
  rules:
    - {tool: "kubernetes__rollback", decision: approval, approver_roles: [lead]}
    - {tool: "kubernetes__*", decision: approval}
delegates:
  - {subject: "jamie*", roles: [viewer, lead]}
  - {subject: jamie, roles: [on-call]}
"""
    )
    config = load_config(path)
    assert config.actions.approvers("kubernetes__rollback") == ("lead",)
    assert config.actions.approvers("kubernetes__scale") == ("approver", "on-call")
    assert config.actions.all_approver_roles() == ("approver", "on-call", "lead")
    assert config.delegable_roles("jamie") == ("viewer", "lead", "on-call")
    assert config.delegable_roles("jamie-2") == ("viewer", "lead")
    assert config.roles() == {"submitter", "viewer", "approver", "on-call", "lead"}


def test_the_local_example_needs_no_cluster_and_reads_files_beside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCARLET_DATABASE_URL", "postgresql://scarlet@127.0.0.1/ops")
    config = load_config(LOCAL)
    assert config.leader_election is None and config.slack_webhook_url_file is None
    assert config.host == "127.0.0.1"
    assert [s.url for s in config.servers] == [
        "http://127.0.0.1:8081/mcp",
        "http://127.0.0.1:8082/mcp",
    ]
    assert config.api_tokens_file == LOCAL.parent / "api-tokens.yaml"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCARLET_DATABASE_URL", "postgresql://scarlet@db/ops")
    monkeypatch.setenv("OLLAMA_HOST", "http://ollama:11434")
    config = load_config(EXAMPLE)
    assert config.dsn() == "postgresql://scarlet@db/ops"
    assert config.model.host == "http://ollama:11434"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("servers: []", "servers: List should have at least 1 item"),
        ("actions: {rules: [{tool: x, decision: maybe}]}", "actions.rules.0.decision"),
        ("worker: {poll_seconds: 0}", "worker.poll_seconds: Input should be greater than 0"),
        ("colour: red", "colour: Extra inputs are not permitted"),
        (
            "delegates: [{subject: jamie, roles: [viewer, root]}]",
            r"delegates.0.roles: unknown role\(s\) root",
        ),
        (
            "actions: {approver_roles: ['on call']}",
            "actions.approver_roles.0: String should match pattern",
        ),
    ],
)
def test_mistakes_name_the_field(tmp_path: Path, change: str, message: str) -> None:
    path = tmp_path / "scarlet.yaml"
    path.write_text(EXAMPLE.read_text() + "\n" + change + "\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_one_database_source(tmp_path: Path) -> None:
    path = tmp_path / "scarlet.yaml"
    path.write_text(EXAMPLE.read_text() + "\ndatabase_url: postgresql://x@y/z\n")
    with pytest.raises(ConfigError, match="exactly one of database_url_file and database_url"):
        load_config(path)
