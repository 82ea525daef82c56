"""Scarlet's start: a configuration it cannot use stops it at once with one line naming the
field and the reason, before it opens a port or the database; relative paths are relative to
the configuration file."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from autodevops.clients.scarlet.config import load_config
from devstack.services import cli


def write_config(folder: Path, **overrides: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "api-tokens.yaml").write_text(
        yaml.safe_dump([{"token": "t" * 24, "subject": "alice", "roles": ["viewer"]}])
    )
    (folder / "kube-token").write_text("k" * 24)
    config = {
        # Never reached: every check below comes before the database.
        "database_url": "postgresql://scarlet@127.0.0.1:1/ops",
        "servers": [
            {"name": "kubernetes", "url": "http://127.0.0.1:1/mcp", "token_file": "kube-token"}
        ],
        "api_tokens_file": "api-tokens.yaml",
        **overrides,
    }
    path = folder / "scarlet.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("overrides", "first_words"),
    [
        (
            {"leader_election": {"namespace": "autodevops"}},
            "leader_election: cannot use the in-cluster ServiceAccount",
        ),
        ({"api_tokens_file": "absent.yaml"}, "{folder}/absent.yaml: cannot read"),
        ({"slack_webhook_url_file": "slack-url"}, "slack_webhook_url_file: cannot read"),
    ],
)
def test_a_configuration_scarlet_cannot_use_stops_it_with_one_line(
    tmp_path: Path, overrides: dict[str, Any], first_words: str
) -> None:
    path = write_config(tmp_path / "etc", **overrides)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    started = time.monotonic()
    done = subprocess.run(
        [*cli(), "scarlet", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert time.monotonic() - started < 30
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(first_words.format(folder=path.parent)), lines[0]


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    path = write_config(
        folder,
        slack_webhook_url_file="secrets/slack",
        leader_election={"namespace": "ops", "kubeconfig": "kubeconfig"},
    )
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/scarlet.yaml"))
    assert config.api_tokens_file.resolve() == folder / "api-tokens.yaml"
    assert config.servers[0].token_file.resolve() == folder / "kube-token"
    assert config.slack_webhook_url_file is not None
    assert config.slack_webhook_url_file.resolve() == folder / "secrets" / "slack"
    assert config.leader_election is not None and config.leader_election.kubeconfig is not None
    assert config.leader_election.kubeconfig.resolve() == folder / "kubeconfig"
    absolute = load_config(write_config(tmp_path / "abs", api_tokens_file=str(path)))
    assert absolute.api_tokens_file == path
