"""Kind names in a policy are resolved against the cluster's discovery: by `policy check`
when a cluster is given, and when the server starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml


def run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "autodevops.clients.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def policy(tmp_path: Path, deny: list[str]) -> Path:
    viewer = {"tools": ["get_resource"], "scope": {"kinds": {"allow": ["*"], "deny": deny}}}
    path = tmp_path / "policy.yaml"
    document = {"server": "kubernetes", "stdio_role": "viewer", "roles": {"viewer": viewer}}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_names_that_resolve_by_kind_plural_or_short_name_pass(kube: Any, tmp_path: Path) -> None:
    path = policy(tmp_path, ["secrets", "core/configmap", "deploy", "SERVICE", "apps/*"])
    result = run("policy", "check", str(path), "--kubeconfig", str(kube.kubeconfig))
    assert result.returncode == 0, result.stderr
    assert "valid policy for the kubernetes server" in result.stdout


def test_a_name_the_cluster_does_not_serve_is_refused(kube: Any, tmp_path: Path) -> None:
    path = policy(tmp_path, ["secretz", "Secret", "nosuch/*"])
    result = run("policy", "check", str(path), "--kubeconfig", str(kube.kubeconfig))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}: roles.viewer.scope.kinds: '{name}' names no kind this cluster serves "
        "(by kind, plural or short name, optionally group/)"
        for name in ("secretz", "nosuch/*")
    ]


def test_without_a_cluster_names_are_not_resolved(tmp_path: Path) -> None:
    result = run("policy", "check", str(policy(tmp_path, ["secretz"])))
    assert result.returncode == 0, result.stderr


def test_an_unreachable_cluster_is_named(kube: Any, tmp_path: Path) -> None:
    config = yaml.safe_load(Path(kube.kubeconfig).read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    broken = tmp_path / "kubeconfig"
    broken.write_text(yaml.safe_dump(config))
    result = run("policy", "check", str(policy(tmp_path, ["secrets"])), "--kubeconfig", str(broken))
    assert result.returncode == 1 and "Kubernetes API" in result.stderr
    assert "127.0.0.1:9" in result.stderr


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_the_server_refuses_to_start_with_a_name_the_cluster_does_not_serve(
    kube: Any, tmp_path: Path, transport: str
) -> None:
    path = policy(tmp_path, ["secretz"])
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump([{"token": "t" * 20, "subject": "a", "roles": ["viewer"]}]))
    result = run(
        "serve", "kubernetes", "--policy", str(path), "--kubeconfig", str(kube.kubeconfig),
        "--transport", transport, "--tokens-file", str(tokens), "--port", "9",
    )  # fmt: skip
    assert result.returncode == 1
    assert "roles.viewer.scope.kinds: 'secretz' names no kind this cluster serves" in result.stderr
