"""Jamie's configuration file: errors name the file and the field; paths are relative to the
file; OLLAMA_HOST and JAMIE_MODEL override the model as the Ollama CLI reads them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from autodevops.clients.jamie.config import load_config
from autodevops.common.config import ConfigError
from autodevops.servers.core.policy import load_policy

MINIMAL: dict[str, object] = {
    "mongodb": {"url_file": "secrets/mongodb-url"},
    "redis": {"url_file": "secrets/redis-url"},
    "auth": {"users_file": "users.yaml"},
}


def write(tmp_path: Path, config: dict[str, object]) -> Path:
    path = tmp_path / "jamie.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_shipped_example_loads() -> None:
    example = Path(__file__).parents[3] / "clients" / "jamie" / "jamie.example.yaml"
    config = load_config(example, environ={})
    assert (config.ports.api, config.ports.portal, config.ports.health) == (8000, 3000, 9000)
    assert config.mongodb.retention_days == 365
    assert [s.name for s in config.servers] == ["kubernetes", "prometheus"]


def test_paths_are_relative_to_the_file_and_secrets_are_read_from_them(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "mongodb-url").write_text("mongodb://db:27017/\n")
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.auth.users_file == tmp_path / "users.yaml"
    assert config.mongodb_url() == "mongodb://db:27017/"
    with pytest.raises(ConfigError, match=r"redis.url_file: cannot read .*redis-url"):
        config.redis_url()
    (tmp_path / "secrets" / "redis-url").write_text("  \n")
    with pytest.raises(ConfigError, match=r"redis.url_file: .* is empty"):
        config.redis_url()


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("gpu-box", "http://gpu-box:11434"),
        ("gpu-box:8080", "http://gpu-box:8080"),
        ("https://ollama.example.com", "https://ollama.example.com"),
    ],
)
def test_ollama_host_overrides_the_model_host(tmp_path: Path, value: str, url: str) -> None:
    environ = {"OLLAMA_HOST": value, "JAMIE_MODEL": "llama3.1:8b"}
    config = load_config(write(tmp_path, MINIMAL), environ=environ)
    assert (config.model.host, config.model.name) == (url, "llama3.1:8b")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"auth": {}}, "auth: Value error, give users_file, proxy, or both"),
        ({"ports": {"api": 0}}, "ports.api: Input should be greater than or equal to 1"),
        ({"limits": {"chat_per_minute": 0}}, "limits.chat_per_minute"),
        (
            {"auth": {"proxy": {"trusted_proxies": ["10.0.0.0/33"]}}},
            "auth.proxy.trusted_proxies: Value error, '10.0.0.0/33' is not a CIDR",
        ),
        ({"servers": [{"name": "a__b", "url": "http://x", "token_file": "t"}]}, "servers.0.name"),
        ({"modle": {}}, "modle: Extra inputs are not permitted"),
        (
            {"scarlet": {"url": "scarlet:8001", "token_file": "t"}},
            "scarlet.url: String should match pattern",
        ),
        ({"scarlet": {"url": "http://scarlet:8001"}}, "scarlet.token_file: Field required"),
    ],
)
def test_errors_name_the_file_and_the_field(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = write(tmp_path, {**MINIMAL, **change})
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "jamie.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path, environ={})


def test_the_readmes_first_run_lets_jamie_act_for_people(tmp_path: Path) -> None:
    """The `delegates` snippets of the first run, appended to the shipped policies, load and
    let Jamie hand on roles each policy has."""
    root = Path(__file__).parents[3]
    readme = (root / "clients" / "jamie" / "README.md").read_text()
    snippets = dict(re.findall(r"cat >> (\w+)-policy\.yaml <<'YAML'\n(.*?)\nYAML\n", readme, re.S))
    assert sorted(snippets) == ["kubernetes", "prometheus"]
    for server, snippet in snippets.items():
        path = tmp_path / f"{server}-policy.yaml"
        path.write_text((root / "policies" / f"{server}.yaml").read_text() + snippet + "\n")
        policy = load_policy(path)
        roles = policy.delegable_roles("jamie")
        assert roles and set(roles) <= set(policy.roles), (server, roles)
    example = load_config(root / "clients" / "jamie" / "jamie.example.yaml", environ={})
    assert example.scarlet is not None
    assert example.scarlet.token_file == root / "clients" / "jamie" / "secrets" / "scarlet-token"
    assert [s.url for s in example.servers] == [
        "http://127.0.0.1:8081/mcp",
        "http://127.0.0.1:8082/mcp",
    ]
    assert "--port 8081" in readme and "--port 8082" in readme
