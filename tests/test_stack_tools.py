"""Proof that helm and kubectl from the npm package run."""

from __future__ import annotations

import subprocess

from autodevops.stack.tools import Tools


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
