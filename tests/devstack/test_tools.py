"""Proof that helm and kubectl from the npm package run, and helm deploys to the stack."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from devstack.kube import KubeHandle
from devstack.tools import Tools


def test_helm_version(tools: Tools) -> None:
    out = subprocess.run(
        [str(tools.helm), "version", "--short"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("v4.")


def test_kubectl_version(tools: Tools) -> None:
    out = subprocess.run(
        [str(tools.kubectl), "version", "--client"], capture_output=True, text=True, check=True
    )
    assert "Client Version: v1.35." in out.stdout


def test_helm_installs_a_chart_and_waits_for_it(
    tools: Tools, kube: KubeHandle, tmp_path: Path
) -> None:
    """helm talks to the stack's API server; kwok makes the release's pods Ready for --wait."""
    ns = f"stack-helm-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig)}

    def helm(*args: str) -> str:
        out = subprocess.run(
            [str(tools.helm), *args], capture_output=True, text=True, env=env, check=False
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    helm("create", str(tmp_path / "demo"))
    chart = str(tmp_path / "demo")
    helm("install", "demo", chart, "-n", ns, "--create-namespace", "--wait", "--timeout", "90s")
    assert "deployed" in helm("status", "demo", "-n", ns)
    helm("uninstall", "demo", "-n", ns, "--wait")
