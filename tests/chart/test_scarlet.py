"""Scarlet's configuration, read by its own loader, and what it needs."""

from __future__ import annotations

from pathlib import Path

import yaml

from autodevops.clients.scarlet.config import load_config
from devstack.tools import Tools

from .helpers import (
    CHART,
    RELEASE,
    SERVERS,
    Doc,
    find,
    helm_refuses,
    name_of,
    pod_specs,
    render,
    split_docs,
)


def test_scarlet_needs_a_server(tools: Tools) -> None:
    settings = ["scarlet.enabled=true", *(f"servers.{s}.enabled=false" for s in SERVERS)]
    args = ["template", RELEASE, str(CHART)] + [a for s in settings for a in ("--set", s)]
    assert "scarlet needs at least one MCP server" in helm_refuses(tools, *args)


def test_scarlet_configuration_is_valid_and_wired(all_docs: list[Doc], tmp_path: Path) -> None:
    data = find(all_docs, "ConfigMap", f"{name_of('scarlet')}-config")["data"]["scarlet.yaml"]
    path = tmp_path / "scarlet.yaml"
    path.write_text(data)
    config = load_config(path)
    pod = pod_specs(all_docs)["scarlet"]
    container = pod["containers"][0]
    assert container["args"] == ["scarlet", "--config=/etc/autodevops/scarlet.yaml"]
    secrets = {v["name"]: v for v in pod["volumes"]}["secrets"]["secret"]
    assert secrets["secretName"] == "scarlet-secrets"
    mounted = {f"/var/run/secrets/scarlet/{item['path']}" for item in secrets["items"]}
    files = {str(s.token_file) for s in config.servers} | {
        str(config.database_url_file),
        str(config.api_tokens_file),
        str(config.slack_webhook_url_file),
    }
    assert files == mounted
    assert {s.name: s.url for s in config.servers} == {
        server: f"http://{name_of(server)}.autodevops.svc.cluster.local:8080/mcp"
        for server in SERVERS
    }
    assert (config.host, config.ports.api, config.ports.metrics, config.ports.health) == (
        "0.0.0.0",
        8001,
        9001,
        8080,
    )
    assert config.leader_election is not None
    assert config.leader_election.namespace == "autodevops"
    role = find(all_docs, "Role", f"{name_of('scarlet')}-leader")
    assert role["rules"][1]["resourceNames"] == [config.leader_election.name]
    assert config.actions.decide("kubernetes__rollout_restart") == "approval"
    # Jamie acts for people; operators decide.
    assert config.delegable_roles("jamie") == ("viewer", "operator")
    assert config.delegable_roles("alertmanager") == ()
    assert config.actions.approvers("kubernetes__rollout_restart") == ("operator",)


def test_scarlet_lets_jamie_act_for_approvers_by_default(tools: Tools, tmp_path: Path) -> None:
    docs = split_docs(render(tools, "autodevops", "scarlet.enabled=true", "jamie.enabled=true"))
    data = find(docs, "ConfigMap", f"{name_of('scarlet')}-config")["data"]["scarlet.yaml"]
    (tmp_path / "scarlet.yaml").write_text(data)
    config = load_config(tmp_path / "scarlet.yaml")
    assert config.delegable_roles("jamie") == ("viewer", "approver")
    assert config.actions.approvers("argocd__sync_application") == ("approver",)
    alone = split_docs(
        render(tools, "autodevops", "scarlet.enabled=true", "jamie.scarlet.enabled=false")
    )
    data = find(alone, "ConfigMap", f"{name_of('scarlet')}-config")["data"]["scarlet.yaml"]
    assert "delegates" not in yaml.safe_load(data)
